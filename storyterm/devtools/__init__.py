"""Tools for developing and testing storyterm (a stand-in Ollama server); not used at run time."""
