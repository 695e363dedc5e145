package event

import "errors"

// joinHooks returns hooks that call a's then b's, field by field; a field
// set in only one of them is that one (no wrapper, no cost).
func joinHooks(a, b Hooks) Hooks {
	return Hooks{
		OnAssign:     join3(a.OnAssign, b.OnAssign),
		OnRevoke:     join2(a.OnRevoke, b.OnRevoke),
		OnCommit:     join4(a.OnCommit, b.OnCommit),
		OnRetry:      join3(a.OnRetry, b.OnRetry),
		OnDeadLetter: join2(a.OnDeadLetter, b.OnDeadLetter),
		OnPublish:    join3(a.OnPublish, b.OnPublish),
		OnConsume:    join4(a.OnConsume, b.OnConsume),
	}
}

func join2[A, B any](a, b func(A, B)) func(A, B) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(x A, y B) { a(x, y); b(x, y) }
}

func join3[A, B, C any](a, b func(A, B, C)) func(A, B, C) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(x A, y B, z C) { a(x, y, z); b(x, y, z) }
}

func join4[A, B, C, D any](a, b func(A, B, C, D)) func(A, B, C, D) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(x A, y B, z C, w D) { a(x, y, z, w); b(x, y, z, w) }
}

// publishErr is the error OnPublish reports for an event with receipt r
// of a batch that returned err.
func publishErr(r Receipt, err error) error {
	if r.Offset != (Offset{}) && !errors.Is(err, ErrNotReplicated) {
		return nil
	}
	return err
}
