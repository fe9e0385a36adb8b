package localenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/partnerbilling/partner-account-operator/internal/partnerapi/simulator"
)

// RemoteAccount is an account as the simulator's /sim/accounts endpoints show it.
type RemoteAccount struct {
	UID             string  `json:"account_uid"`
	Type            string  `json:"account_type"`
	Domain          string  `json:"domain"`
	Status          string  `json:"status"`
	ActivationToken string  `json:"activation_token"`
	EndsAt          *string `json:"ends_at"`
	Deleted         bool    `json:"deleted"`
	DeletedBy       string  `json:"deleted_by"`
}

// RemoteAccounts returns every account the simulator holds, deleted ones included.
func (e *Env) RemoteAccounts(ctx context.Context) ([]RemoteAccount, error) {
	var out struct {
		Accounts []RemoteAccount `json:"accounts"`
	}
	_, err := e.simCall(ctx, http.MethodGet, "/sim/accounts", &out)
	return out.Accounts, err
}

// RemoteAccount returns the simulator's account uid; false when there is none.
func (e *Env) RemoteAccount(ctx context.Context, uid string) (RemoteAccount, bool, error) {
	var out RemoteAccount
	status, err := e.simCall(ctx, http.MethodGet, "/sim/accounts/"+url.PathEscape(uid), &out)
	if status == http.StatusNotFound {
		return RemoteAccount{}, false, nil
	}
	return out, err == nil, err
}

// SeedRemoteAccount makes the simulator hold an account created at createdAt, as
// the partner's billing system or another cluster would have made it before.
func (e *Env) SeedRemoteAccount(ctx context.Context, uid, accountType, domain string, createdAt time.Time) error {
	body, err := json.Marshal(map[string]any{
		"account_uid": uid, "account_type": accountType, "domain": domain, "created_at": createdAt.UTC(),
	})
	if err != nil {
		return err
	}
	_, err = e.simCallWith(ctx, http.MethodPost, "/sim/accounts", body, nil)
	return err
}

// SetSimulatorFaults replaces the simulator's faults; the zero Faults clears them.
func (e *Env) SetSimulatorFaults(ctx context.Context, f simulator.Faults) error {
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = e.simCallWith(ctx, http.MethodPut, "/sim/faults", body, nil)
	return err
}

// SimulatorRequests returns the simulator's count of Partnership API requests by
// operation and status, e.g. {"create 201": 2, "get 200": 1}.
func (e *Env) SimulatorRequests(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	_, err := e.simCall(ctx, http.MethodGet, "/sim/requests", &out)
	return out, err
}

// ResetSimulatorRequests makes the simulator forget its request counts.
func (e *Env) ResetSimulatorRequests(ctx context.Context) error {
	_, err := e.simCall(ctx, http.MethodDelete, "/sim/requests", nil)
	return err
}

// simCall calls a /sim endpoint and decodes its JSON answer into out when it is 200.
func (e *Env) simCall(ctx context.Context, method, path string, out any) (int, error) {
	return e.simCallWith(ctx, method, path, nil, out)
}

// simCallWith is simCall with a JSON request body.
func (e *Env) simCallWith(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, e.SimulatorURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer func() { _ = resp.Body.Close() }()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, answer)
	}
	if out == nil {
		return resp.StatusCode, nil
	}
	return resp.StatusCode, json.Unmarshal(answer, out)
}
