// Package contract holds the two descriptions of the 1Password Partnership API
// that the client and the simulator are tested against: the OpenAPI contract the
// project was given (partnership-openapi.yml), checked with kin-openapi, and
// fixtures of the dialect 1Password's servers speak today (published/).
//
// Only tests import this package.
package contract

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// OpenAPI is partnership-openapi.yml, the contract the project was given.
//
//go:embed partnership-openapi.yml
var OpenAPI []byte

// Validator checks requests and responses against partnership-openapi.yml.
type Validator struct {
	router routers.Router
}

var (
	loadOnce sync.Once
	loaded   *Validator
	loadErr  error
)

// NewValidator loads and validates the contract once and returns a validator for it.
func NewValidator() (*Validator, error) {
	loadOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromData(OpenAPI)
		if err != nil {
			loadErr = fmt.Errorf("load partnership-openapi.yml: %w", err)
			return
		}
		if err := doc.Validate(context.Background()); err != nil {
			loadErr = fmt.Errorf("partnership-openapi.yml is not a valid OpenAPI document: %w", err)
			return
		}
		router, err := legacy.NewRouter(doc)
		if err != nil {
			loadErr = fmt.Errorf("route partnership-openapi.yml: %w", err)
			return
		}
		loaded = &Validator{router: router}
	})
	return loaded, loadErr
}

// route finds the operation for r. The contract's server URL is
// https://billing.b5test.eu/api/v1; a request to any host is matched on its path.
func (v *Validator) route(r *http.Request) (*routers.Route, map[string]string, error) {
	u := *r.URL
	u.Scheme, u.Host = "https", "billing.b5test.eu"
	rr := r.Clone(r.Context())
	rr.URL = &u
	rr.Host = u.Host
	route, params, err := v.router.FindRoute(rr)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", r.Method, r.URL.EscapedPath(), err)
	}
	return route, params, nil
}

// ValidateRequest checks r, whose body has already been read into body, against the
// contract: path, path parameters (the account uid pattern and length), bearer
// authentication present, content type and body schema.
func (v *Validator) ValidateRequest(r *http.Request, body []byte) error {
	route, params, err := v.route(r)
	if err != nil {
		return err
	}
	rr := r.Clone(r.Context())
	rr.Body = io.NopCloser(bytes.NewReader(body))
	input := &openapi3filter.RequestValidationInput{
		Request:    rr,
		PathParams: params,
		Route:      route,
		Options: &openapi3filter.Options{
			MultiError:         true,
			AuthenticationFunc: requireBearer,
		},
	}
	return openapi3filter.ValidateRequest(r.Context(), input)
}

// ValidateResponse checks a response to r against the contract: the status code must
// be one the operation declares, and the body must match its schema.
func (v *Validator) ValidateResponse(r *http.Request, status int, header http.Header, body []byte) error {
	route, params, err := v.route(r)
	if err != nil {
		return err
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    r,
			PathParams: params,
			Route:      route,
		},
		Status: status,
		Header: header,
		Body:   io.NopCloser(bytes.NewReader(body)),
		Options: &openapi3filter.Options{
			MultiError:            true,
			IncludeResponseStatus: true,
		},
	}
	return openapi3filter.ValidateResponse(r.Context(), input)
}

func requireBearer(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	if in.SecuritySchemeName != "bearerAuth" {
		return fmt.Errorf("unexpected security scheme %q", in.SecuritySchemeName)
	}
	const prefix = "Bearer "
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	if len(h) <= len(prefix) || h[:len(prefix)] != prefix {
		return fmt.Errorf("authorization header is not a bearer token")
	}
	return nil
}
