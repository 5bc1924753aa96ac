"""Vision-language model engines: Claude (direct, Bedrock, Vertex) and OpenAI-compatible servers."""
