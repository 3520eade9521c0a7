package e2e_test

import (
	"fmt"
	"log"

	"github.com/chvmm/chvmm/core"
	_ "github.com/chvmm/chvmm/versions/v50" // CH v50.2
	_ "github.com/chvmm/chvmm/versions/v53" // CH v53.0
)

// A program embeds and registers the CH releases whose version modules it
// imports; core.Lookup finds them. (README: Install, whose import block is
// this file's.)
func Example_install() {
	for _, want := range []string{"50", "53"} {
		rel, err := core.Lookup(want)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(rel)
	}
	// Output:
	// v50.2
	// v53.0
}
