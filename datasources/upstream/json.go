package upstream

import "encoding/json"

func decodeJSON(body []byte, v any) error { return json.Unmarshal(body, v) }
