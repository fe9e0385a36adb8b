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

// SimulatorAdmin calls the Partnership API simulator's controls, its /sim
// endpoints, which show and set what it holds. Env embeds one for the simulator it
// starts.
type SimulatorAdmin struct {
	// SimulatorURL is the simulator's address (its controls are under /sim).
	SimulatorURL string
	// SimulatorClient sends the requests; nil means http.DefaultClient.
	SimulatorClient *http.Client
}

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
func (a SimulatorAdmin) RemoteAccounts(ctx context.Context) ([]RemoteAccount, error) {
	var out struct {
		Accounts []RemoteAccount `json:"accounts"`
	}
	_, err := a.simCall(ctx, http.MethodGet, "/sim/accounts", &out)
	return out.Accounts, err
}

// RemoteAccount returns the simulator's account uid; false when there is none.
func (a SimulatorAdmin) RemoteAccount(ctx context.Context, uid string) (RemoteAccount, bool, error) {
	var out RemoteAccount
	status, err := a.simCall(ctx, http.MethodGet, "/sim/accounts/"+url.PathEscape(uid), &out)
	if status == http.StatusNotFound {
		return RemoteAccount{}, false, nil
	}
	return out, err == nil, err
}

// SeedRemoteAccount makes the simulator hold an account created at createdAt, as
// the partner's billing system or another cluster would have made it before.
func (a SimulatorAdmin) SeedRemoteAccount(ctx context.Context, uid, accountType, domain string,
	createdAt time.Time) error {
	body, err := json.Marshal(map[string]any{
		"account_uid": uid, "account_type": accountType, "domain": domain, "created_at": createdAt.UTC(),
	})
	if err != nil {
		return err
	}
	_, err = a.simCallWith(ctx, http.MethodPost, "/sim/accounts", body, nil)
	return err
}

// DeleteRemoteAccount deletes the account uid behind the operator's back, as
// 1Password or the partner's billing system could.
func (a SimulatorAdmin) DeleteRemoteAccount(ctx context.Context, uid string) error {
	_, err := a.simCall(ctx, http.MethodDelete, "/sim/accounts/"+url.PathEscape(uid), nil)
	return err
}

// Redeem does what a customer's signup with the account's activation token does:
// the simulator's account uid goes from entitled to provisioned.
func (a SimulatorAdmin) Redeem(ctx context.Context, uid string) error {
	_, err := a.simCall(ctx, http.MethodPost, "/sim/accounts/"+url.PathEscape(uid)+"/redeem", nil)
	return err
}

// SetSimulatorFaults replaces the simulator's faults; the zero Faults clears them.
func (a SimulatorAdmin) SetSimulatorFaults(ctx context.Context, f simulator.Faults) error {
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = a.simCallWith(ctx, http.MethodPut, "/sim/faults", body, nil)
	return err
}

// SimulatorRequests returns the simulator's count of Partnership API requests by
// operation and status, e.g. {"create 201": 2, "get 200": 1}.
func (a SimulatorAdmin) SimulatorRequests(ctx context.Context) (map[string]int, error) {
	out := map[string]int{}
	_, err := a.simCall(ctx, http.MethodGet, "/sim/requests", &out)
	return out, err
}

// ResetSimulatorRequests makes the simulator forget its request counts.
func (a SimulatorAdmin) ResetSimulatorRequests(ctx context.Context) error {
	_, err := a.simCall(ctx, http.MethodDelete, "/sim/requests", nil)
	return err
}

// simCall calls a /sim endpoint and decodes its JSON answer into out when it is 200.
func (a SimulatorAdmin) simCall(ctx context.Context, method, path string, out any) (int, error) {
	return a.simCallWith(ctx, method, path, nil, out)
}

// simCallWith is simCall with a JSON request body.
func (a SimulatorAdmin) simCallWith(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, a.SimulatorURL+path, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	client := a.SimulatorClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
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
