"""Generation: the storyteller (claim a part, build the prompt, stream, checkpoint, end) and the
catalog of Ollama's models (which one a story uses, its context window)."""
