"""Story memory: `state` is what session.memory holds and its tolerant reader (no LangChain);
`prompt` builds the next prompt and folds old parts into the rolling summary (LangChain)."""
