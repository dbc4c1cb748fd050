"""policyqa: clause-level search and question answering over Chinese policy texts.

The distribution installs this one import package. Its sub-packages are the repository's top-level
folders, and data flows one way through them: ``policyqa.corpus`` (documents in, clauses out) →
``policyqa.indexer`` (clauses in, index out) → ``policyqa.service`` (index in, answers out);
``policyqa.eval`` measures all three and nothing imports it. This root holds what every package needs
without importing another: the error root, the text rules, logging and the command-line dispatcher.
"""
