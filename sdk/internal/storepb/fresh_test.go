package storepb

import (
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
)

// TestGeneratedCodeIsFresh fails when the checked-in code differs from what
// the pinned generators make of store.proto.
func TestGeneratedCodeIsFresh(t *testing.T) { testenv.CheckGenerated(t, "store.proto") }
