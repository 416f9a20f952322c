package upstream

import json "github.com/goccy/go-json"

// decodeJSON decodes an upstream answer. The lists the read side polls
// (stacks, containers, proxy hosts) grow with the number of apps, so a
// faster decoder than encoding/json keeps a large install's polls short.
func decodeJSON(body []byte, v any) error { return json.Unmarshal(body, v) }
