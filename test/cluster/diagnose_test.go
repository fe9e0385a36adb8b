//go:build cluster

package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// diagnose describes the state of the operator's install for a failure message, so
// that the message names the cause: the Deployment's conditions, each pod's
// containers (waiting or terminated, with their reasons, and restarts), the
// namespace's Warning events (failed probes, failed mounts, refused pods) and the
// pods' log lines that say "forbidden", or else each pod's last lines.
func diagnose(in install) string {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var b strings.Builder
	ns := in.namespace
	var deploy appsv1.Deployment
	if getJSON(ctx, &deploy, "get", "deployment", in.deployment.Name, "-n", ns) {
		fmt.Fprintf(&b, "\nDeployment %s/%s:", ns, deploy.Name)
		for _, c := range deploy.Status.Conditions {
			fmt.Fprintf(&b, " %s=%s (%s: %s);", c.Type, c.Status, c.Reason, c.Message)
		}
	}
	var pods corev1.PodList
	if getJSON(ctx, &pods, "get", "pods", "-n", ns, "-l", in.selector()) {
		for _, p := range pods.Items {
			fmt.Fprintf(&b, "\nPod %s: %s", p.Name, p.Status.Phase)
			for _, c := range p.Status.Conditions {
				if c.Status != corev1.ConditionTrue {
					fmt.Fprintf(&b, ", %s=%s %s", c.Type, c.Status, c.Message)
				}
			}
			for _, cs := range p.Status.ContainerStatuses {
				fmt.Fprintf(&b, "\n  container %s: ready=%t restarts=%d %s", cs.Name, cs.Ready, cs.RestartCount, state(cs.State))
				if t := cs.LastTerminationState.Terminated; t != nil {
					fmt.Fprintf(&b, "; last %s", state(cs.LastTerminationState))
				}
			}
		}
	}
	var events corev1.EventList
	if getJSON(ctx, &events, "get", "events", "-n", ns, "--field-selector", "type=Warning") {
		b.WriteString("\nWarning events:")
		if len(events.Items) == 0 {
			b.WriteString(" none")
		}
		for _, e := range events.Items {
			if e.Reason == "MissingClusterDNS" {
				continue // the test cluster runs no DNS, and the operator needs none
			}
			fmt.Fprintf(&b, "\n  %s/%s %s: %s (x%d)",
				e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message, max(e.Count, 1))
		}
	}
	// Every pod's log: with leader election, only the leader's shows the reconciler's errors.
	var forbidden []string
	last := make([]string, 0, 11*len(pods.Items))
	for _, p := range pods.Items {
		log := podLog(ctx, in.namespace, p.Name, true) + podLog(ctx, in.namespace, p.Name, false)
		lines := strings.Split(strings.TrimSpace(log), "\n")
		for _, line := range lines {
			if strings.Contains(strings.ToLower(line), "forbidden") && !slices.Contains(forbidden, line) {
				forbidden = append(forbidden, line)
			}
		}
		last = append(last, p.Name+":")
		last = append(last, lastN(lines, 10)...)
	}
	if len(forbidden) > 0 {
		b.WriteString("\nThe operator's log says forbidden:\n  " + strings.Join(lastN(forbidden, 5), "\n  "))
	} else {
		b.WriteString("\nThe operator's last log lines:\n  " + strings.Join(last, "\n  "))
	}
	return b.String()
}

// explain is a Gomega failure description: what failed, and diagnose's account of
// why, gathered only when it is needed.
func explain(in install, format string, args ...any) func() string {
	return func() string { return fmt.Sprintf(format, args...) + diagnose(in) }
}

func state(s corev1.ContainerState) string {
	switch {
	case s.Waiting != nil:
		return fmt.Sprintf("waiting: %s %s", s.Waiting.Reason, s.Waiting.Message)
	case s.Terminated != nil:
		t := s.Terminated
		return fmt.Sprintf("terminated: %s, exit code %d %s", t.Reason, t.ExitCode, t.Message)
	case s.Running != nil:
		return "running since " + s.Running.StartedAt.UTC().Format(time.RFC3339)
	}
	return "no state"
}

// podLog returns the log of the manager container of a pod, or of the one before it.
func podLog(ctx context.Context, namespace, pod string, previous bool) string {
	out, _ := runKubectl(ctx, "", false, "logs", "-n", namespace, pod, "-c", "manager",
		fmt.Sprintf("--previous=%t", previous), "--tail=300")
	return out
}

func getJSON(ctx context.Context, into any, args ...string) bool {
	out, err := runKubectl(ctx, "", false, append(args, "-o", "json")...)
	return err == nil && json.Unmarshal([]byte(out), into) == nil
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
