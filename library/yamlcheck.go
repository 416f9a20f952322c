package library

import (
	"errors"
	"fmt"

	"go.yaml.in/yaml/v4"
)

// maxComposeNodes is how many YAML nodes a compose file may expand to, its
// aliases and merge keys followed: compose-go's own limit. compose-go finds
// out by walking the expansion, which for a 30-byte file whose merge key
// names its own anchor (`x: &a {<<: *a}`) took it 11-33 s of CPU
// (FuzzComposeLoad); CheckComposeYAML finds out in microseconds.
const maxComposeNodes = 100000

// CheckComposeYAML refuses YAML whose aliases refer to a node that contains
// them (a cycle) or that expands to more than maxComposeNodes nodes, before
// compose-go spends its time on it. Other YAML errors are left to compose-go,
// which words them for compose files.
func CheckComposeYAML(content []byte) error {
	var doc yaml.Node
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return nil // compose-go reports it
	}
	memo := map[*yaml.Node]int{}
	if _, err := expandedSize(&doc, memo, 0); err != nil {
		return err
	}
	return nil
}

var errAliasCycle = errors.New("a YAML alias refers to a node that contains it")

func expandedSize(n *yaml.Node, memo map[*yaml.Node]int, depth int) (int, error) {
	if n == nil {
		return 0, nil
	}
	if depth > 10000 {
		return 0, errors.New("the YAML is nested more than 10000 levels deep")
	}
	switch size, seen := memo[n]; {
	case seen && size < 0:
		return 0, errAliasCycle
	case seen:
		return size, nil
	}
	memo[n] = -1 // being expanded
	size := 1
	if n.Kind == yaml.AliasNode {
		s, err := expandedSize(n.Alias, memo, depth+1)
		if err != nil {
			return 0, err
		}
		size += s
	}
	for _, c := range n.Content {
		s, err := expandedSize(c, memo, depth+1)
		if err != nil {
			return 0, err
		}
		if size += s; size > maxComposeNodes {
			return 0, fmt.Errorf("the YAML expands to more than %d nodes through its aliases", maxComposeNodes)
		}
	}
	memo[n] = size
	return size, nil
}
