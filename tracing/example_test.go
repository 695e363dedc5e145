package tracing_test

import (
	"fmt"

	"github.com/go-sync/sync/tracing"
)

// Valid keeps a well-formed W3C trace context and drops a malformed one
// instead of storing it.
func ExampleContext_Valid() {
	good := tracing.Context{TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", TraceState: "rojo=00f067aa0ba902b7"}
	bad := tracing.Context{TraceParent: "00-00000000000000000000000000000000-00f067aa0ba902b7-01", TraceState: "rojo=1"}
	fmt.Println(good.Valid() == good)
	fmt.Println(bad.Valid().IsZero())
	// Output:
	// true
	// true
}
