// Package logcap caps how verbose the operator's logger can get. client-go logs
// whole request and response bodies at V(8) and above, through the logger of the
// request's context (klog's contextual logging): in a reconcile, that is the
// operator's logger, which controller-runtime puts there. Those bodies are
// PartnerAccounts and Secrets, which may hold activation tokens, so no flag may
// turn that on.
package logcap

import "github.com/go-logr/logr"

// MaxVerbosity is the most verbose V-level the operator logs. client-go's
// request and response bodies start at V(8); its request headers (V(7)) mask the
// bearer token.
const MaxVerbosity = 7

// Cap returns l without V-levels above MaxVerbosity.
func Cap(l logr.Logger) logr.Logger {
	return logr.New(&sink{LogSink: l.GetSink()})
}

// sink drops V-levels above MaxVerbosity and keeps doing so for the loggers
// derived from it.
type sink struct {
	logr.LogSink
}

func (s *sink) Enabled(level int) bool {
	return level <= MaxVerbosity && s.LogSink.Enabled(level)
}

func (s *sink) Info(level int, msg string, kv ...any) {
	if level <= MaxVerbosity {
		s.LogSink.Info(level, msg, kv...)
	}
}

func (s *sink) WithValues(kv ...any) logr.LogSink {
	return &sink{LogSink: s.LogSink.WithValues(kv...)}
}

func (s *sink) WithName(name string) logr.LogSink {
	return &sink{LogSink: s.LogSink.WithName(name)}
}

// WithCallDepth keeps call sites right through the wrapper.
func (s *sink) WithCallDepth(depth int) logr.LogSink {
	if d, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return &sink{LogSink: d.WithCallDepth(depth)}
	}
	return s
}
