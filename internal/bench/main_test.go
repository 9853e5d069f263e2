package bench

import (
	"testing"

	"github.com/ALRubinger/aileron-store/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }
