package core

import (
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
)

func testMainHook(m *testing.M) { testenv.Main(m) }
