// policyqa portal widget: <div data-policyqa="https://policyqa.example.gov.cn"></div> plus this script.
// It asks the policyqa API (allow the portal's origin with POLICYQA_CORS_ORIGINS) and shows the answer
// with numbered citations that open the clause on the policyqa page. Text only: no innerHTML.
(function () {
  "use strict";

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function mount(root) {
    const api = root.getAttribute("data-policyqa").replace(/\/+$/, "");
    const form = el("form", "pqa-form");
    const input = el("input", "pqa-input");
    input.type = "search";
    input.required = true;
    input.maxLength = 500;
    input.placeholder = "请输入您想了解的政策问题";
    input.setAttribute("aria-label", "政策问题");
    const button = el("button", "pqa-button", "提问");
    button.type = "submit";
    form.append(input, button);
    const output = el("div", "pqa-output");
    output.setAttribute("aria-live", "polite");
    root.replaceChildren(form, output);

    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const question = input.value.trim();
      if (!question) return;
      output.replaceChildren(el("p", "pqa-status", "正在查询…"));
      try {
        const response = await fetch(`${api}/ask`, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ question }),
        });
        const body = await response.json();
        if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
        output.replaceChildren(render(api, body));
      } catch (error) {
        output.replaceChildren(el("p", "pqa-status", `查询失败：${error.message}`));
      }
    });
  }

  function render(api, body) {
    const fragment = document.createDocumentFragment();
    const answer = el("p", "pqa-answer");
    const citations = new Map(body.citations.map((c) => [String(c.n), c]));
    let position = 0;
    for (const match of body.answer.matchAll(/\[(\d+)\]/g)) {
      const citation = citations.get(match[1]);
      if (!citation) continue;
      answer.append(body.answer.slice(position, match.index));
      const link = el("a", "pqa-cite", `[${citation.n}]`);
      link.href = `${api}/#/clause/${encodeURIComponent(citation.clause_id)}?start=${citation.start}&end=${citation.end}`;
      link.target = "_blank";
      link.rel = "noopener";
      answer.append(link);
      position = match.index + match[0].length;
    }
    answer.append(body.answer.slice(position));
    fragment.append(answer);
    const more = el("a", "pqa-more", "查看全部相关条款");
    more.href = `${api}/#/search?q=${encodeURIComponent(body.question)}`;
    more.target = "_blank";
    more.rel = "noopener";
    fragment.append(more);
    return fragment;
  }

  document.querySelectorAll("[data-policyqa]").forEach(mount);
})();
