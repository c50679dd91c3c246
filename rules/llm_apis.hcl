# LLM provider APIs: inference and model listing are fine; organisation and admin APIs are not.

rule "llm-admin" {
  endpoints = [https.anthropic, https.openai]
  priority  = 100
  condition = "http.path.startsWith('/v1/organizations') || http.path.startsWith('/v1/organization/')"
  verdict   = "deny"
  reason    = "Organisation and admin APIs are off limits to agents"
}

rule "llm-inference" {
  endpoints = [https.anthropic, https.openai]
  condition = "http.method == 'post' && http.path in ['/v1/messages', '/v1/messages/count_tokens', '/v1/chat/completions', '/v1/responses', '/v1/embeddings']"
  verdict   = "allow"
}

rule "llm-models" {
  endpoints = [https.anthropic, https.openai]
  condition = "http.method == 'get' && http.path.startsWith('/v1/models')"
  verdict   = "allow"
}
