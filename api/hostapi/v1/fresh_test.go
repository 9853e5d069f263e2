package hostapiv1

import (
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
)

// TestGeneratedCodeIsFresh fails when the checked-in code differs from what
// the pinned generators make of hostapi.proto.
func TestGeneratedCodeIsFresh(t *testing.T) { testenv.CheckGenerated(t, "hostapi.proto") }
