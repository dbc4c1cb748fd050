// 政策文件检索与问答 — the search page. Plain DOM: every text goes in through textContent, never innerHTML.
"use strict";

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);  // strings become text nodes
  }
  return node;
}

// Text with [start, end) spans wrapped in <mark>.
function marked(text, spans) {
  const fragment = document.createDocumentFragment();
  let position = 0;
  for (const [start, end] of spans) {
    if (start > position) fragment.append(text.slice(position, start));
    fragment.append(el("mark", {}, text.slice(start, end)));
    position = end;
  }
  fragment.append(text.slice(position));
  return fragment;
}

// 《title》, plus the subtitle of a split law: 《中华人民共和国民法典》物权编
function citedTitle(documentInfo) {
  return `《${documentInfo.title}》${documentInfo.subtitle || ""}`;
}

// 江苏（推断） when the region was inferred from the places the body names, not stated.
function regionLabel(documentInfo) {
  if (!documentInfo.region) return null;
  return documentInfo.region_basis === "inferred" ? `${documentInfo.region}（推断）` : documentInfo.region;
}

// 《title》 › 四、… › （十二）…
function breadcrumb(documentInfo, path) {
  return [citedTitle(documentInfo), ...path].join(" › ");
}

// The status of a version on the search's day: 现行有效 / 已被修订 / 已废止 / 尚未施行 / 已失效.
const STATUS_CLASSES = { "现行有效": "in-force", "已被修订": "revised", "已废止": "repealed",
                         "尚未施行": "not-yet", "已失效": "expired" };

function validityBadge(validity) {
  if (!validity) return null;
  const dates = [validity.effective_from && `${validity.effective_from} 起施行`,
                 validity.effective_to && `${validity.effective_to} 起不再有效`].filter(Boolean).join("，");
  return el("span", { class: `validity-badge validity-${STATUS_CLASSES[validity.status] || "other"}`,
                      title: dates || "施行日期不详" }, validity.status);
}

function clauseHref(clauseId, start, end) {
  const range = start === undefined ? "" : `?start=${start}&end=${end}`;
  return `#/clause/${encodeURIComponent(clauseId)}${range}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
  return body;
}

function setStatus(message) {
  $("status").textContent = message;
}

const FORM_FIELDS = ["q", "mode", "document_id", "region", "doc_type", "date_from", "date_to", "as_of"];
const FILTERS = ["document_id", "region", "doc_type", "date_from", "date_to", "as_of"];

function formParams() {
  const params = new URLSearchParams();
  for (const name of FORM_FIELDS) {
    const value = $(name).value.trim();
    if (value) params.set(name, value);
  }
  if ($("include_history").checked) params.set("include_history", "true");
  return params;
}

function fillForm(params) {
  for (const name of FORM_FIELDS) {
    if (params.has(name)) $(name).value = params.get(name);
  }
  $("include_history").checked = params.get("include_history") === "true";
  $("document_id").value = params.get("document_id") || "";
  showScope($("document_id").value);
}

// "仅在《…》中检索": a search inside one document, opened from that document's page.
async function showScope(documentId) {
  $("scope").hidden = !documentId;
  if (!documentId) return;
  $("scope-title").textContent = "";
  try {
    $("scope-title").textContent = citedTitle(await api(`documents/${encodeURIComponent(documentId)}`));
  } catch (error) {
    $("scope-title").textContent = documentId;
  }
}

function showView(name) {
  $("search-view").hidden = name !== "search";
  $("clause-view").hidden = name !== "clause";
}

// ---- search and answer ----------------------------------------------------------------------

// Each route() is a navigation; a view renders only if no newer navigation began while it was loading
// (a slow answer must not overwrite the page the user has moved on to).
let navigation = 0;

async function runSearch(params, ticket = navigation) {
  showView("search");
  fillForm(params);
  const question = params.get("q");
  if (!question) return;
  setStatus("正在检索…");
  const filters = {};
  for (const name of FILTERS) {
    if (params.get(name)) filters[name] = params.get(name);
  }
  if (params.get("include_history") === "true") filters.include_history = true;
  const searchParams = new URLSearchParams(params);
  searchParams.set("k", "10");
  try {
    const [results, answer] = await Promise.all([
      api(`search?${searchParams}`),
      api("ask", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ question, filters }),
      }),
    ]);
    if (ticket !== navigation) return;
    conversation = [{ question, answer }];
    askedFilters = filters;
    renderConversation();
    renderAnswer(answer);
    renderResults(results);
    setStatus("");
  } catch (error) {
    if (ticket !== navigation) return;
    $("answer").hidden = true;
    $("results-section").hidden = true;
    setStatus(`检索失败：${error.message}`);
  }
}

// ---- 追问: the last few exchanges go with a follow-up as its history ----------------------------

const MAX_EXCHANGES = 3;  // the exchanges kept, and so the history a follow-up sends
let conversation = [];  // [{question, answer}], oldest first; the last one is on show
let askedFilters = {};  // the filters of the search the conversation started from

// What an answer says as a history turn: its text and the document and clause of each citation, which is
// how the service knows what "这条" or "上面说的文件" refer to.
function assistantTurn(answer) {
  const cited = answer.citations.map((c) => `[${c.n}] ${citedTitle(c.document)}${c.path.at(-1) || ""}`);
  return [answer.answer, ...cited].join("\n");
}

function historyOf(exchanges) {
  return exchanges.flatMap((e) => [
    { role: "user", content: e.question },
    { role: "assistant", content: assistantTurn(e.answer) },
  ]);
}

// Relevance bands, so that a 0.61 answer does not look like a 0.95 one.
function confidenceBand(value) {
  if (value >= 0.8) return { name: "high", label: "高" };
  if (value >= 0.5) return { name: "medium", label: "中" };
  return { name: "low", label: "低，请核对原文" };
}

function confidenceBadge(answer) {
  const band = confidenceBand(answer.confidence);
  return el("span", { class: `confidence-badge confidence-${band.name}`,
                      title: "相关度：引用条款回答该问题的概率" },
    `相关度 ${band.label} ${answer.confidence.toFixed(2)}`);
}

function renderConversation() {
  const earlier = conversation.slice(0, -1);
  $("conversation").replaceChildren(...earlier.map((e) =>
    el("li", { class: "turn" },
      el("p", { class: "turn-question" }, `问：${e.question}`),
      el("p", { class: "turn-answer" }, `答：${e.answer.answer}`, " ",
        e.answer.no_answer ? null : confidenceBadge(e.answer)))));
  $("conversation").hidden = !earlier.length;
  const current = conversation.at(-1);
  $("current-question").hidden = !earlier.length;
  $("current-question").textContent = current ? `问：${current.question}` : "";
}

async function askFollowUp(question) {
  const ticket = navigation;
  setStatus("正在回答追问…");
  try {
    const answer = await api("ask", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ question, filters: askedFilters, history: historyOf(conversation) }),
    });
    if (ticket !== navigation) return;
    conversation = [...conversation, { question, answer }].slice(-MAX_EXCHANGES);
    renderConversation();
    renderAnswer(answer);
    $("followup-q").value = "";
    setStatus("");
  } catch (error) {
    if (ticket !== navigation) return;
    setStatus(`追问失败：${error.message}`);
  }
}

function renderAnswer(answer) {
  $("rewritten").hidden = !answer.rewritten_question;
  $("rewritten").textContent = answer.rewritten_question ? `按“${answer.rewritten_question}”回答` : "";
  $("confidence").hidden = answer.no_answer;
  $("confidence").replaceChildren(answer.no_answer ? "" : confidenceBadge(answer));
  $("answer").dataset.confidence = answer.no_answer ? "none" : confidenceBand(answer.confidence).name;
  const text = $("answer-text");
  text.replaceChildren();
  // Turn the [n] markers of the answer into links to the cited clause.
  const citations = new Map(answer.citations.map((c) => [String(c.n), c]));
  let position = 0;
  for (const match of answer.answer.matchAll(/\[(\d+)\]/g)) {
    const citation = citations.get(match[1]);
    if (!citation) continue;
    text.append(answer.answer.slice(position, match.index));
    text.append(el("a", { class: "cite", href: clauseHref(citation.clause_id, citation.start, citation.end),
                          title: breadcrumb(citation.document, citation.path) }, `[${citation.n}]`));
    position = match.index + match[0].length;
  }
  text.append(answer.answer.slice(position));
  text.classList.toggle("no-answer", answer.no_answer);

  const list = $("citations");
  list.replaceChildren(...answer.citations.map((c) =>
    el("li", { value: String(c.n) },
      el("a", { href: clauseHref(c.clause_id, c.start, c.end), class: "citation-link" },
        breadcrumb(c.document, c.path)), " ", validityBadge(c.validity),
      c.document.date ? el("span", { class: "meta" }, ` ${c.document.date}`) : null)));
  $("answer").hidden = false;
}

function renderResults(results) {
  $("result-meta").textContent = `共 ${results.hits.length} 条，用时 ${results.took_ms} 毫秒`;
  const list = $("results");
  list.replaceChildren(...results.hits.map((hit) =>
    el("li", { class: "hit" },
      el("p", { class: "breadcrumb" },
        el("a", { href: clauseHref(hit.clause_id) }, breadcrumb(hit.document, hit.path)), " ",
        validityBadge(hit.validity)),
      el("p", { class: "hit-text" }, marked(hit.text, hit.highlights)),
      el("p", { class: "meta" }, [regionLabel(hit.document), hit.document.issuer, hit.document.doc_number,
                                  hit.document.date].filter(Boolean).join(" · ")))));
  if (!results.hits.length) list.append(el("li", { class: "empty" }, "没有找到相关条款。"));
  $("results-section").hidden = false;
}

// ---- clause in its document -----------------------------------------------------------------

async function showClause(clauseId, params, ticket = navigation) {
  showView("clause");
  setStatus("正在加载条款…");
  try {
    const clause = await api(`clauses/${encodeURIComponent(clauseId)}`);
    const documentInfo = await api(`documents/${encodeURIComponent(clause.document.id)}`);
    if (ticket !== navigation) return;
    renderClause(clause, documentInfo, params);
    setStatus("");
  } catch (error) {
    if (ticket !== navigation) return;
    setStatus(`无法加载条款：${error.message}`);
  }
}

function renderClause(clause, documentInfo, params) {
  $("doc-search-form").dataset.documentId = documentInfo.id;
  $("doc-title").textContent = citedTitle(documentInfo);
  $("doc-meta").replaceChildren([regionLabel(documentInfo), documentInfo.issuer, documentInfo.doc_number,
                                 documentInfo.date].filter(Boolean).join(" · "), " ",
                                validityBadge(clause.validity));
  renderVersions(clause);
  $("clause-path").textContent = breadcrumb(documentInfo, clause.path);
  const start = Number(params.get("start"));
  const end = Number(params.get("end"));
  const quoted = params.has("start") && end > start ? [start, end] : null;
  $("clause-text").replaceChildren(linkedText(clause.id, clause.text, clause.references_out, quoted));
  renderCitedBy(clause.cited_by);
  for (const [id, link] of [[clause.previous, $("prev-clause")], [clause.next, $("next-clause")]]) {
    link.hidden = !id;
    if (id) link.href = clauseHref(id);
  }
  // The outline: each clause under its section headings (四、…), shown when they change.
  const items = [];
  let sections = [];
  for (const entry of documentInfo.clauses) {
    const ancestors = entry.path.slice(0, -1);
    ancestors.forEach((label, depth) => {
      if (sections[depth] !== label) items.push(el("li", { class: "section" }, label));
    });
    sections = ancestors;
    const label = [entry.number, entry.heading].filter(Boolean).join(" ") || entry.path.at(-1);
    const item = el("li", {}, el("a", { href: clauseHref(entry.id) }, label));
    if (entry.id === clause.id) {
      item.className = "current";
      item.firstChild.setAttribute("aria-current", "true");
    }
    items.push(item);
  }
  $("outline").replaceChildren(...items);
  const current = $("outline").querySelector(".current");
  if (current) current.scrollIntoView({ block: "nearest" });
  const mark = $("clause-text").querySelector("mark");
  if (mark) mark.scrollIntoView({ block: "center" });
}

// The clause's text with each resolved reference (本法第十二条, 《…》第X条, 前款) a link to the clause it cites,
// and the quoted span marked.
function linkedText(clauseId, text, references, quoted) {
  const links = references.filter((r) => r.target_clause_id && r.target_clause_id !== clauseId);
  const cuts = new Set([0, text.length, ...links.flatMap((r) => [r.start, r.end]), ...(quoted || [])]);
  const points = [...cuts].filter((p) => p >= 0 && p <= text.length).sort((a, b) => a - b);
  const fragment = document.createDocumentFragment();
  for (let i = 0; i + 1 < points.length; i += 1) {
    const [from, to] = [points[i], points[i + 1]];
    let piece = text.slice(from, to);
    if (quoted && from >= quoted[0] && to <= quoted[1]) piece = el("mark", {}, piece);
    const link = links.find((r) => r.start <= from && to <= r.end);
    fragment.append(link ? el("a", { class: "ref-link", href: clauseHref(link.target_clause_id),
                                     title: link.title ? `《${link.title}》` : "本文件" }, piece) : piece);
  }
  return fragment;
}

function renderCitedBy(citing) {
  $("cited-by").hidden = !citing.length;
  $("cited-by-count").textContent = `被引用 ${citing.length} 次`;
  $("cited-by-list").replaceChildren(...citing.map((c) =>
    el("li", {}, el("a", { href: clauseHref(c.clause_id) }, breadcrumb(c.document, c.path)))));
}

// The other versions of the document, each linking to this clause's counterpart there, with a diff.
function renderVersions(clause) {
  const versions = clause.other_versions;
  $("doc-versions").hidden = !versions.length;
  $("version-diff").hidden = true;
  $("doc-versions").replaceChildren("其他版本：", ...versions.flatMap((v) => {
    const compare = el("button", { type: "button", class: "diff-button" }, "对比");
    compare.disabled = !v.clause_id;
    compare.addEventListener("click", () => showDiff(clause, v));
    return [el("a", { href: v.clause_id ? clauseHref(v.clause_id) : "#", class: "version-link" },
      `${v.date || "日期不详"}版`), " ", validityBadge(v.validity), " ", compare, " "];
  }));
}

// The counterpart in another version against this clause: deleted text struck through, added text underlined.
async function showDiff(clause, version) {
  try {
    const other = await api(`clauses/${encodeURIComponent(version.clause_id)}`);
    $("version-diff-title").textContent =
      `与${version.date || ""}版 ${other.path.at(-1) || ""} 对比（删除线：该版有、本版无；下划线：本版新增）`;
    $("version-diff-text").replaceChildren(...characterDiff(other.text, clause.text));
    $("version-diff").hidden = false;
  } catch (error) {
    setStatus(`无法对比：${error.message}`);
  }
}

// A character-level diff (longest common subsequence) as text, <del> and <ins> nodes.
function characterDiff(before, after) {
  const [a, b] = [[...before], [...after]];
  const lengths = Array.from({ length: a.length + 1 }, () => new Uint16Array(b.length + 1));
  for (let i = a.length - 1; i >= 0; i -= 1) {
    for (let j = b.length - 1; j >= 0; j -= 1) {
      lengths[i][j] = a[i] === b[j] ? lengths[i + 1][j + 1] + 1 : Math.max(lengths[i + 1][j], lengths[i][j + 1]);
    }
  }
  const nodes = [];
  const push = (tag, text) => {
    const last = nodes.at(-1);
    if (last && last.tag === tag) last.text += text;
    else nodes.push({ tag, text });
  };
  let [i, j] = [0, 0];
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) { push("", a[i]); i += 1; j += 1; }
    else if (j < b.length && (i === a.length || lengths[i][j + 1] >= lengths[i + 1][j])) { push("ins", b[j]); j += 1; }
    else { push("del", a[i]); i += 1; }
  }
  return nodes.map((node) => node.tag ? el(node.tag, {}, node.text) : node.text);
}

// ---- filters and routing --------------------------------------------------------------------

async function loadFilterOptions() {
  try {
    const documents = await api("documents");
    for (const name of ["region", "doc_type"]) {
      const values = [...new Set(documents.map((d) => d[name]).filter(Boolean))].sort();
      $(name).append(...values.map((value) => el("option", { value }, value)));
    }
  } catch (error) {
    setStatus(`服务尚未就绪：${error.message}`);
  }
}

let lastSearch = "#/";

function route() {
  navigation += 1;
  const hash = location.hash || "#/";
  const [path, query = ""] = hash.slice(1).split("?");
  const params = new URLSearchParams(query);
  if (path.startsWith("/clause/")) {
    $("back-link").href = lastSearch;
    showClause(decodeURIComponent(path.slice("/clause/".length)), params);
  } else {
    lastSearch = hash;
    runSearch(params);
  }
}

$("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const target = `#/search?${formParams()}`;
  if (location.hash === target) route();
  else location.hash = target;
});
$("followup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const question = $("followup-q").value.trim();
  if (question && conversation.length) askFollowUp(question);
});
$("scope-clear").addEventListener("click", () => {
  $("document_id").value = "";
  location.hash = `#/search?${formParams()}`;
});
$("doc-search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const params = new URLSearchParams({ q: $("doc-q").value.trim(), document_id: event.target.dataset.documentId });
  location.hash = `#/search?${params}`;
});
window.addEventListener("hashchange", route);
loadFilterOptions().then(route);
