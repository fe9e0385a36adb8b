package simulator

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
)

// The /sim endpoints: the simulator's controls, as JSON over HTTP, with no token.
//
//	GET    /sim/health                      {"status":"ok","dialect":"contract"}
//	GET    /sim/accounts                    {"accounts":[AccountState...]}
//	POST   /sim/accounts                    Seed -> AccountState (an account made before, created_at as given)
//	GET    /sim/accounts/{uid}              AccountState
//	DELETE /sim/accounts/{uid}              AccountState (deleted out of band)
//	POST   /sim/accounts/{uid}/redeem       AccountState
//	POST   /sim/accounts/{uid}/suspend      AccountState
//	POST   /sim/accounts/{uid}/unsuspend    AccountState
//	POST   /sim/accounts/{uid}/deprovision  AccountState (deprovisioned before its end date)
//	GET    /sim/requests                    {"create 201":3,"get 200":10,...}
//	DELETE /sim/requests                    {} (counts forgotten)
//	POST   /sim/reset                       {} (accounts and counts forgotten)
//	GET    /sim/faults                      Faults
//	PUT    /sim/faults                      Faults (the new ones)
//	PUT    /sim/tokens                      {"tokens":["..."]} -> {"tokens":2}
//
// Failures are {"error": "..."} with 400 (bad input), 404 (no such account or
// endpoint) or 409 (the account is deleted or its status does not allow the change).
func (s *Server) simMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /sim/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "dialect": string(s.dialect)})
	})
	mux.HandleFunc("GET /sim/accounts", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string][]AccountState{"accounts": s.Accounts()})
	})
	mux.HandleFunc("POST /sim/accounts", func(w http.ResponseWriter, r *http.Request) {
		var in Seed
		if err := decodeSimBody(r, &in); err != nil {
			writeJSON(w, http.StatusBadRequest, simError{Error: "account: " + err.Error()})
			return
		}
		st, err := s.Seed(in)
		switch {
		case errors.Is(err, ErrExists):
			writeJSON(w, http.StatusConflict, simError{Error: err.Error() + ": " + in.UID})
		case err != nil:
			writeJSON(w, http.StatusBadRequest, simError{Error: err.Error()})
		default:
			writeJSON(w, http.StatusOK, st)
		}
	})
	mux.HandleFunc("GET /sim/accounts/{uid}", func(w http.ResponseWriter, r *http.Request) {
		s.simAccount(w, r.PathValue("uid"), nil)
	})
	mux.HandleFunc("DELETE /sim/accounts/{uid}", s.simControl(s.DeleteOutOfBand))
	mux.HandleFunc("POST /sim/accounts/{uid}/redeem", s.simControl(s.Redeem))
	mux.HandleFunc("POST /sim/accounts/{uid}/suspend", s.simControl(s.Suspend))
	mux.HandleFunc("POST /sim/accounts/{uid}/unsuspend", s.simControl(s.Unsuspend))
	mux.HandleFunc("POST /sim/accounts/{uid}/deprovision", s.simControl(s.Deprovision))
	mux.HandleFunc("GET /sim/requests", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Requests())
	})
	mux.HandleFunc("DELETE /sim/requests", func(w http.ResponseWriter, _ *http.Request) {
		s.ResetCounts()
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("POST /sim/reset", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Reset(); err != nil {
			writeJSON(w, http.StatusInternalServerError, simError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	})
	mux.HandleFunc("GET /sim/faults", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /sim/faults", func(w http.ResponseWriter, r *http.Request) {
		var f Faults
		if err := decodeSimBody(r, &f); err != nil {
			writeJSON(w, http.StatusBadRequest, simError{Error: "faults: " + err.Error()})
			return
		}
		if err := s.SetFaults(f); err != nil {
			writeJSON(w, http.StatusBadRequest, simError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, s.Faults())
	})
	mux.HandleFunc("PUT /sim/tokens", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Tokens []string `json:"tokens"`
		}
		if err := decodeSimBody(r, &body); err != nil || body.Tokens == nil {
			writeJSON(w, http.StatusBadRequest, simError{Error: `tokens: want {"tokens": ["..."]}`})
			return
		}
		if err := s.SetTokens(body.Tokens); err != nil {
			writeJSON(w, http.StatusBadRequest, simError{Error: err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]int{"tokens": len(body.Tokens)})
	})
	mux.HandleFunc("/sim/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, simError{Error: "no such /sim endpoint: " + r.Method + " " + r.URL.Path})
	})
	return mux
}

// simError is the body of a failed /sim request.
type simError struct {
	Error string `json:"error"`
}

func (s *Server) simControl(fn func(uid string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		uid := r.PathValue("uid")
		s.simAccount(w, uid, fn(uid))
	}
}

// simAccount answers with the account uid, or with err when there is one.
func (s *Server) simAccount(w http.ResponseWriter, uid string, err error) {
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, simError{Error: "no account " + uid})
		return
	case errors.Is(err, ErrDeleted), errors.Is(err, ErrInvalidState):
		writeJSON(w, http.StatusConflict, simError{Error: err.Error() + ": " + uid})
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, simError{Error: err.Error()})
		return
	}
	a, ok := s.Account(uid)
	if !ok {
		writeJSON(w, http.StatusNotFound, simError{Error: "no account " + uid})
		return
	}
	writeJSON(w, http.StatusOK, a)
}

func decodeSimBody(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	return json.Unmarshal(body, v)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status, body = http.StatusInternalServerError, []byte(`{"error":"cannot encode the answer"}`)
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
