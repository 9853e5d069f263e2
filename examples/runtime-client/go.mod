// A program outside the aileron-store module, as an agent runtime would be:
// it imports only the public client. Build it from a checkout with
//   go mod tidy && go build
// (the replace directive points at the checkout; drop it to use a release).
module example.com/runtime-client

go 1.26.8

require github.com/ALRubinger/aileron-store v0.0.0

replace github.com/ALRubinger/aileron-store => ../..
