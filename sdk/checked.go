package sdk

import "context"

// Checked returns a Store that checks every call's arguments against the
// limits of the contract (ValidateKey, ValidateValue against the store's
// Capabilities, ValidateCond, ValidateListOptions, ValidateBatch) and passes
// only valid calls on to st, with ListOptions.Limit defaulted. An invalid call
// returns an error wrapping ErrInvalidArgument and never reaches st.
//
// This is the one place arguments are checked on the plugin side: Serve
// wraps the Factory's Store with it, and the conformance harness wraps the
// stores it checks in process. So a Store implementation assumes valid
// arguments and implements only the semantics. Use Checked wherever a Store
// is called in process by code that may pass invalid arguments.
//
// The result reports st's Capabilities (the zero MaxValueSize made
// MaxValueSize) and is a Batcher: WriteBatch validates the batch, then applies
// it with st's own WriteBatch when st is a Batcher, else by emulation (see
// WriteBatch). Checked returns st itself when st already checks its arguments
// (a Checked store, or a *Client, which checks before a call leaves the
// host).
func Checked(st Store) Store {
	if _, ok := st.(argumentChecker); ok {
		return st
	}
	return &checked{st: st}
}

// argumentChecker is implemented by the stores that check their arguments.
type argumentChecker interface{ checksArguments() }

type checked struct{ st Store }

func (c *checked) checksArguments() {}

func (c *checked) Get(ctx context.Context, key string) ([]byte, Version, error) {
	if err := ValidateKey(key); err != nil {
		return nil, "", err
	}
	return c.st.Get(ctx, key)
}

func (c *checked) Put(ctx context.Context, key string, value []byte, cond Cond) (Version, error) {
	if err := validatePut(key, value, cond, c.Capabilities().MaxValueSize); err != nil {
		return "", err
	}
	return c.st.Put(ctx, key, value, cond)
}

func (c *checked) Delete(ctx context.Context, key string, cond Cond) error {
	if err := validateDelete(key, cond); err != nil {
		return err
	}
	return c.st.Delete(ctx, key, cond)
}

func (c *checked) List(ctx context.Context, opts ListOptions) (Page, error) {
	opts, err := ValidateListOptions(opts)
	if err != nil {
		return Page{}, err
	}
	return c.st.List(ctx, opts)
}

func (c *checked) WriteBatch(ctx context.Context, guard *Guard, writes []Write) ([]WriteResult, error) {
	if err := ValidateBatch(guard, writes, c.Capabilities().MaxValueSize); err != nil {
		return nil, err
	}
	return WriteBatch(ctx, c.st, guard, writes)
}

func (c *checked) Capabilities() Capabilities { return capabilitiesOf(c.st) }

func (c *checked) Close() error { return c.st.Close() }

// validatePut and validateDelete are the checks of Put and Delete, shared
// with Client.
func validatePut(key string, value []byte, cond Cond, max int) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	if err := ValidateValue(key, value, max); err != nil {
		return err
	}
	return ValidateCond(key, cond, false)
}

func validateDelete(key string, cond Cond) error {
	if err := ValidateKey(key); err != nil {
		return err
	}
	return ValidateCond(key, cond, true)
}
