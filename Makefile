# Image URL to use all building/pushing image targets
IMG ?= controller:latest
# YEAR defines the year value used for substituting the YEAR placeholder in the boilerplate header.
YEAR ?= $(shell date +%Y)

# Get the currently used golang install path (in GOPATH/bin, unless GOBIN is set)
ifeq (,$(shell go env GOBIN))
GOBIN=$(shell go env GOPATH)/bin
else
GOBIN=$(shell go env GOBIN)
endif

# Setting SHELL to bash allows bash commands to be executed by recipes.
# Options are set to exit when a recipe line exits non-zero or a piped command fails.
SHELL = /usr/bin/env bash -o pipefail
.SHELLFLAGS = -ec

## Location to install dependencies to
LOCALBIN ?= $(shell pwd)/bin
$(LOCALBIN):
	mkdir -p "$(LOCALBIN)"

.PHONY: all
all: build

##@ General

# The help target prints out all targets with their descriptions organized
# beneath their categories. The categories are represented by '##@' and the
# target descriptions by '##'.

.PHONY: help
help: ## Display this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: manifests
manifests: controller-gen ## Generate ClusterRole and CustomResourceDefinition objects.
	"$(CONTROLLER_GEN)" rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases

.PHONY: generate
generate: controller-gen ## Generate code containing DeepCopy, DeepCopyInto, and DeepCopyObject method implementations.
	"$(CONTROLLER_GEN)" object:headerFile="hack/boilerplate.go.txt",year=$(YEAR) paths="./..."

.PHONY: fmt
fmt: ## Run go fmt against code.
	go fmt ./...

.PHONY: vet
vet: ## Run go vet against code.
	go vet ./...

.PHONY: test
test: manifests generate fmt vet control-plane test-chart test-monitoring ## Run every test: the chart's, the alerts', envtest and end-to-end suites, against the control plane in bin/k8s.
	$(ENVTEST_VERSION_CHECK) go test -race ./... -timeout 20m -coverprofile cover.out
	$(E2E_TEST)
	$(BENCH_TEST)

# The end-to-end suite (test/e2e, build tag e2e) runs kubectl, the operator and the
# simulator as separate processes against etcd and kube-apiserver (test/localenv).
# It installs from dist/chart with bin/helm, and checks the operator's /metrics
# against what bin/metricnames finds in the alerts and the dashboard.
E2E_TEST = $(ENVTEST_VERSION_CHECK) HELM="$(HELM)" METRICNAMES="$(METRICNAMES)" go test -tags e2e ./test/e2e/ -count=1 -timeout 10m

# The benchmark at 200 accounts (test/bench, build tag bench): prints the figures of
# make bench and asserts those per account. Like make bench, it installs the operator
# from dist/chart with bin/helm.
BENCH_TEST = $(ENVTEST_VERSION_CHECK) HELM="$(HELM)" go test -tags bench ./test/bench/ -count=1 -timeout 15m -v

.PHONY: test-e2e
test-e2e: control-plane helm metricnames ## Run the end-to-end suite alone, showing each spec, its kubectl commands and their output.
	$(E2E_TEST) -v -ginkgo.v

.PHONY: demo
demo: control-plane ## Run the control plane, the simulator and the operator here, apply config/samples and show them; DEMO_KEEP=1 keeps them until Ctrl-C.
	go build -o "$(LOCALBIN)/demo" ./test/demo
	$(ENVTEST_VERSION_CHECK) "$(LOCALBIN)/demo"

.PHONY: bench
bench: control-plane helm ## Measure the operator, installed from dist/chart, at 1,000 and 10,000 accounts, and 1,000 with token Secrets (about 40 minutes); write docs/benchmarks.md. BENCH_ARGS="-h" lists the flags.
	go build -o "$(LOCALBIN)/bench" ./test/bench/cmd
	$(ENVTEST_VERSION_CHECK) HELM="$(HELM)" "$(LOCALBIN)/bench" $(BENCH_ARGS)

.PHONY: lint
lint: golangci-lint ## Run golangci-lint linter, on hack/monitoring's module too
	"$(GOLANGCI_LINT)" run
	cd hack/monitoring && "$(GOLANGCI_LINT)" run ./...

.PHONY: lint-fix
lint-fix: golangci-lint ## Run golangci-lint linter and perform fixes
	"$(GOLANGCI_LINT)" run --fix

.PHONY: lint-config
lint-config: golangci-lint ## Verify golangci-lint linter configuration
	"$(GOLANGCI_LINT)" config verify

##@ Build

.PHONY: build
build: manifests generate fmt vet ## Build the manager, the Partnership API simulator and the kubectl plugin into bin/.
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o bin/manager ./cmd
	go build -o bin/partnerapi-sim ./cmd/partnerapi-sim
	go build -o bin/kubectl-partneraccount ./cmd/kubectl-partneraccount

.PHONY: run
run: manifests generate fmt vet ## Run a controller from your host.
	go run ./cmd

.PHONY: build-installer
build-installer: manifests generate kustomize ## Generate a consolidated YAML with CRDs and deployment.
	mkdir -p dist
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default > dist/install.yaml

##@ Deployment

ifndef ignore-not-found
  ignore-not-found = false
endif

.PHONY: install
install: manifests kustomize ## Install CRDs into the K8s cluster specified in ~/.kube/config.
	"$(KUSTOMIZE)" build config/crd | "$(KUBECTL)" apply -f -

.PHONY: uninstall
uninstall: manifests kustomize ## Uninstall CRDs from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	"$(KUSTOMIZE)" build config/crd | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

.PHONY: deploy
deploy: manifests kustomize ## Deploy controller to the K8s cluster specified in ~/.kube/config.
	cd config/manager && "$(KUSTOMIZE)" edit set image controller=${IMG}
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" apply -f -

.PHONY: undeploy
undeploy: kustomize ## Undeploy controller from the K8s cluster specified in ~/.kube/config. Call with ignore-not-found=true to ignore resource not found errors during deletion.
	"$(KUSTOMIZE)" build config/default | "$(KUBECTL)" delete --ignore-not-found=$(ignore-not-found) -f -

##@ Test control plane

# The tests and the demo run a real kube-apiserver and etcd. setup-envtest would
# download them; here they are built from the Go module proxy instead, by the two
# modules under hack/controlplane, whose go.mod files pin the versions.
K8S_VERSION = $(shell awk '$$1 == "k8s.io/kubernetes" { print $$2; exit }' hack/controlplane/kubernetes/go.mod)
ETCD_VERSION = $(shell awk '$$1 == "go.etcd.io/etcd/server/v3" { print $$2; exit }' hack/controlplane/etcd/go.mod)
GOOS ?= $(shell go env GOOS)
GOARCH ?= $(shell go env GOARCH)
CONTROL_PLANE_DIR ?= $(LOCALBIN)/k8s/$(K8S_VERSION:v%=%)-$(GOOS)-$(GOARCH)
CONTROL_PLANE = $(CONTROL_PLANE_DIR)/kube-apiserver $(CONTROL_PLANE_DIR)/kubectl $(CONTROL_PLANE_DIR)/etcd
K8S_VERSION_LDFLAGS = $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=$(K8S_VERSION) -X $(pkg).gitTreeState=clean \
	-X $(pkg).gitMajor=$(word 1,$(subst ., ,$(K8S_VERSION:v%=%))) -X $(pkg).gitMinor=$(word 2,$(subst ., ,$(K8S_VERSION))))

# envtest finds kube-apiserver, etcd and kubectl in KUBEBUILDER_ASSETS. Set it in the
# environment to use binaries of your own; then nothing is built.
KUBEBUILDER_ASSETS ?= $(CONTROL_PLANE_DIR)
export KUBEBUILDER_ASSETS
# With the control plane built here, the envtest suites also check that the server
# they talk to reports this version.
ENVTEST_VERSION_CHECK = $(if $(filter $(CONTROL_PLANE_DIR),$(KUBEBUILDER_ASSETS)),ENVTEST_K8S_VERSION=$(K8S_VERSION))

.PHONY: control-plane
control-plane: $(if $(filter $(CONTROL_PLANE_DIR),$(KUBEBUILDER_ASSETS)),$(CONTROL_PLANE)) ## Build kube-apiserver, kubectl and etcd into bin/k8s unless they are there (about 10 minutes the first time).
	@echo "Control plane in $(KUBEBUILDER_ASSETS): $$("$(KUBEBUILDER_ASSETS)/kube-apiserver" --version), etcd $$("$(KUBEBUILDER_ASSETS)/etcd" --version | awk 'NR == 1 { print $$3 }')"

$(CONTROL_PLANE_DIR)/kube-apiserver $(CONTROL_PLANE_DIR)/kubectl:
	@echo "Building $(notdir $@) $(K8S_VERSION) from the Go module proxy"
	cd hack/controlplane/kubernetes && go build -trimpath -ldflags "-s -w $(K8S_VERSION_LDFLAGS)" -o "$@" k8s.io/kubernetes/cmd/$(notdir $@)

$(CONTROL_PLANE_DIR)/etcd:
	@echo "Building etcd $(ETCD_VERSION) from the Go module proxy"
	cd hack/controlplane/etcd && go build -trimpath -ldflags "-s -w" -o "$@" go.etcd.io/etcd/server/v3

##@ Test cluster

# make test-cluster runs the operator as a real pod on a real one-node cluster on this
# machine: the control plane above plus a kubelet, kube-controller-manager,
# kube-scheduler and kube-proxy (built from the same hack module), containerd and runc
# (from apt), the CNI plugins (hack/cni) and images built without Docker or a
# registry (hack/clustertools). It needs root; see README.md.
CNI_VERSION = $(shell awk '$$1 == "github.com/containernetworking/plugins" { print $$2; exit }' hack/cni/go.mod)
CNI_DIR ?= $(LOCALBIN)/cni/$(CNI_VERSION)
CNI_PLUGINS = $(CNI_DIR)/bridge $(CNI_DIR)/host-local $(CNI_DIR)/loopback
CLUSTER_NODE = $(CONTROL_PLANE_DIR)/kubelet $(CONTROL_PLANE_DIR)/kube-controller-manager \
	$(CONTROL_PLANE_DIR)/kube-scheduler $(CONTROL_PLANE_DIR)/kube-proxy
CLUSTER_TOOLS_DIR ?= $(LOCALBIN)/clustertools
CLUSTER_PACKAGES = containerd runc nftables

.PHONY: test-cluster
test-cluster: cluster-host $(CONTROL_PLANE) cluster-node cluster-images cluster-installer helm ## As root: run the operator as a pod on a one-node cluster here, installed from dist/install.yaml and from dist/chart, and test it.
	go build -o "$(CLUSTER_TOOLS_DIR)/test-cluster" ./test/cluster/harness
	$(ENVTEST_VERSION_CHECK) "$(CLUSTER_TOOLS_DIR)/test-cluster" --assets "$(CONTROL_PLANE_DIR)" --cni "$(CNI_DIR)" \
		--images "$(CLUSTER_TOOLS_DIR)/images" --install "$(CLUSTER_TOOLS_DIR)/install.yaml" --helm "$(HELM)" \
		--logs "$(CLUSTER_TOOLS_DIR)/logs" -- go test -tags cluster ./test/cluster/ -count=1 -timeout 20m -v

.PHONY: cluster-host
cluster-host: ## Check that this is root, and install containerd, runc and nftables with apt when they are missing.
	@[ "$$(id -u)" = 0 ] || { echo "make test-cluster needs root: it runs containerd, the kubelet and kube-proxy" >&2; exit 1; }
	@missing=; for p in $(CLUSTER_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing$$missing with apt-get: make test-cluster needs them"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

.PHONY: cluster-node
cluster-node: $(CLUSTER_NODE) $(CNI_PLUGINS) ## Build the kubelet, kube-controller-manager, kube-scheduler, kube-proxy and the CNI plugins unless they are there.

$(CLUSTER_NODE):
	@echo "Building $(notdir $@) $(K8S_VERSION) from the Go module proxy"
	cd hack/controlplane/kubernetes && go build -trimpath -ldflags "-s -w $(K8S_VERSION_LDFLAGS)" -o "$@" k8s.io/kubernetes/cmd/$(notdir $@)

$(CNI_PLUGINS):
	@echo "Building the CNI plugin $(notdir $@) $(CNI_VERSION) from the Go module proxy"
	cd hack/cni && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$@" \
		github.com/containernetworking/plugins/plugins/$(if $(filter host-local,$(notdir $@)),ipam,main)/$(notdir $@)

# The images: the manager, a pause image for pod sandboxes and a client for in-cluster
# checks, each a static binary in a one-layer image that runs as 65532:65532, written
# as tarballs that the harness imports into containerd.
CLUSTER_IMG = localhost/partner-account-operator:test

.PHONY: cluster-images
cluster-images: ## Build the manager, pause and client images as tarballs into bin/clustertools/images.
	mkdir -p "$(CLUSTER_TOOLS_DIR)/images"
	cd hack/clustertools && go build -o "$(CLUSTER_TOOLS_DIR)/mkimg" ./mkimg
	cd hack/clustertools && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$(CLUSTER_TOOLS_DIR)/pause" ./pause
	cd hack/clustertools && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$(CLUSTER_TOOLS_DIR)/fetch" ./fetch
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X github.com/partnerbilling/partner-account-operator/internal/version.version=test" -o "$(CLUSTER_TOOLS_DIR)/manager" ./cmd
	"$(CLUSTER_TOOLS_DIR)/mkimg" -o "$(CLUSTER_TOOLS_DIR)/images/manager.tar" -tag $(CLUSTER_IMG) \
		-entrypoint /manager "$(CLUSTER_TOOLS_DIR)/manager"
	"$(CLUSTER_TOOLS_DIR)/mkimg" -o "$(CLUSTER_TOOLS_DIR)/images/pause.tar" -tag localhost/pause:test \
		-entrypoint /pause "$(CLUSTER_TOOLS_DIR)/pause"
	"$(CLUSTER_TOOLS_DIR)/mkimg" -o "$(CLUSTER_TOOLS_DIR)/images/client.tar" -tag localhost/cluster-client:test \
		-entrypoint /pause "$(CLUSTER_TOOLS_DIR)/pause" "$(CLUSTER_TOOLS_DIR)/fetch"

# make build-installer with the test image, into bin/clustertools/install.yaml. It edits
# config/manager/kustomization.yaml and writes dist/install.yaml; both are put back as
# they were, so that git status stays clean.
.PHONY: cluster-installer
cluster-installer:
	hack/clustertools/build-installer.sh "$(CLUSTER_IMG)" "$(CLUSTER_TOOLS_DIR)/install.yaml"

##@ Helm chart

# dist/chart is generated: kubebuilder's helm/v2-alpha plugin turns the output of
# kustomize build config/default into a chart, then hack/chart makes the manager's
# arguments and token volume follow the chart's values and adds the alerts, the
# dashboard and hack/chart's templates. It runs in a scratch directory because the
# plugin wants PROJECT beside it and would add a GitHub workflow to the repository.
CHART_DIR = dist/chart
CHART_WORK = $(LOCALBIN)/chart-work
define generate-chart
rm -rf "$(CHART_WORK)" && mkdir -p "$(CHART_WORK)/dist"
"$(KUSTOMIZE)" build config/default > "$(CHART_WORK)/dist/install.yaml"
cp PROJECT "$(CHART_WORK)/"
cd "$(CHART_WORK)" && "$(KUBEBUILDER)" edit --plugins=helm/v2-alpha --force --manifests=./dist/install.yaml >/dev/null
go run ./hack/chart "$(CHART_WORK)/dist/chart" "$(CHART_WORK)/dist/install.yaml"
endef

.PHONY: chart
chart: kustomize kubebuilder ## Regenerate dist/chart from config/ and hack/chart/: run it after changing either.
	$(generate-chart)
	rm -rf "$(CHART_DIR)" && cp -R "$(CHART_WORK)/dist/chart" "$(CHART_DIR)"

# What the chart renders with its defaults, as release partner-account-operator in
# partner-account-operator-system: the same names and namespace as config/default.
CHART_RENDERED = $(LOCALBIN)/chart/partner-account-operator.yaml
HELM_TEMPLATE = "$(HELM)" template partner-account-operator "$(CHART_DIR)" --namespace partner-account-operator-system

.PHONY: test-chart
test-chart: kustomize kubebuilder helm ## Check that dist/chart is what make chart makes and matches config/; helm lint and helm template it.
	$(generate-chart)
	@diff -r "$(CHART_WORK)/dist/chart" "$(CHART_DIR)" || { echo "dist/chart is not what config/ and hack/chart/ make: run make chart" >&2; exit 1; }
	"$(HELM)" lint --strict "$(CHART_DIR)"
	"$(HELM)" lint --strict "$(CHART_DIR)" --set 'partnerAPI.url=test,prometheus.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,networkPolicy.enabled=true,metrics.readers[0].name=prometheus-k8s,metrics.readers[0].namespace=monitoring'
	mkdir -p "$(dir $(CHART_RENDERED))"
	$(HELM_TEMPLATE) > "$(CHART_RENDERED)"
	$(HELM_TEMPLATE) --set 'partnerAPI.url=test,prometheus.enabled=true,prometheusRule.enabled=true,grafanaDashboard.enabled=true,networkPolicy.enabled=true,metrics.readers[0].name=prometheus-k8s,metrics.readers[0].namespace=monitoring' > /dev/null
	"$(KUSTOMIZE)" build config/overlays/test-server > /dev/null
	HELM="$(HELM)" KUSTOMIZE="$(KUSTOMIZE)" go test ./hack/chart -count=1

.PHONY: chart-render
chart-render: helm ## Write the chart's manifests with its default values to bin/chart/partner-account-operator.yaml.
	mkdir -p "$(dir $(CHART_RENDERED))"
	$(HELM_TEMPLATE) > "$(CHART_RENDERED)"

##@ Monitoring

# promtool is built once, like the control plane, by hack/monitoring, a module of
# its own so that Prometheus's dependencies stay out of the operator's go.mod.
PROMETHEUS_VERSION = $(shell awk '$$1 == "github.com/prometheus/prometheus" { print $$2; exit }' hack/monitoring/go.mod)
PROMTOOL = $(LOCALBIN)/promtool-$(PROMETHEUS_VERSION)
METRICNAMES = $(LOCALBIN)/metricnames
ALERTS_WORK = $(LOCALBIN)/alerts-test

.PHONY: promtool
promtool: $(PROMTOOL) ## Build promtool into bin/ unless it is there (about 7 minutes the first time).
$(PROMTOOL):
	@echo "Building promtool $(PROMETHEUS_VERSION) from the Go module proxy"
	cd hack/monitoring && go build -trimpath -ldflags "-s -w" -o "$@" github.com/prometheus/prometheus/cmd/promtool

.PHONY: metricnames
metricnames: ## Build bin/metricnames, which prints every metric the alerts and the dashboard query.
	cd hack/monitoring && go build -o "$(METRICNAMES)" ./metricnames

# The files bin/metricnames reads; the end-to-end suite runs
# $(METRICNAMES) $(MONITORING_QUERIES) from the repository root.
MONITORING_QUERIES = config/prometheus/prometheus_rule.yaml config/grafana/partner-account-operator.json

.PHONY: test-alerts
test-alerts: promtool ## promtool check and test the alerts in config/prometheus (tests in config/prometheus/tests).
	rm -rf "$(ALERTS_WORK)" && mkdir -p "$(ALERTS_WORK)"
	cd hack/monitoring && go run ./rulefile ../../config/prometheus/prometheus_rule.yaml > "$(ALERTS_WORK)/rules.yaml"
	cp config/prometheus/tests/*_test.yaml "$(ALERTS_WORK)/"
	"$(PROMTOOL)" check rules "$(ALERTS_WORK)/rules.yaml"
	cd "$(ALERTS_WORK)" && "$(PROMTOOL)" test rules *_test.yaml

.PHONY: test-monitoring
test-monitoring: test-alerts metricnames ## Test the alerts, the dashboard, docs/metrics.md and bin/metricnames.
	cd hack/monitoring && go test ./... -count=1
	"$(METRICNAMES)" $(MONITORING_QUERIES) > /dev/null

##@ Dependencies

## Tool Binaries
KUBECTL ?= kubectl
KUSTOMIZE ?= $(LOCALBIN)/kustomize
CONTROLLER_GEN ?= $(LOCALBIN)/controller-gen
GOLANGCI_LINT = $(LOCALBIN)/golangci-lint
KUBEBUILDER ?= $(LOCALBIN)/kubebuilder
HELM ?= $(LOCALBIN)/helm

## Tool Versions
KUSTOMIZE_VERSION ?= v5.8.1
CONTROLLER_TOOLS_VERSION ?= v0.23.0
GOLANGCI_LINT_VERSION ?= v2.13.1
KUBEBUILDER_VERSION ?= v4.16.0
HELM_VERSION ?= v4.3.1

.PHONY: kustomize
kustomize: $(KUSTOMIZE) ## Download kustomize locally if necessary.
$(KUSTOMIZE): $(LOCALBIN)
	$(call go-install-tool,$(KUSTOMIZE),sigs.k8s.io/kustomize/kustomize/v5,$(KUSTOMIZE_VERSION))

.PHONY: controller-gen
controller-gen: $(CONTROLLER_GEN) ## Download controller-gen locally if necessary.
$(CONTROLLER_GEN): $(LOCALBIN)
	$(call go-install-tool,$(CONTROLLER_GEN),sigs.k8s.io/controller-tools/cmd/controller-gen,$(CONTROLLER_TOOLS_VERSION))

.PHONY: golangci-lint
golangci-lint: $(GOLANGCI_LINT) ## Download golangci-lint locally if necessary.
$(GOLANGCI_LINT): $(LOCALBIN)
	$(call go-install-tool,$(GOLANGCI_LINT),github.com/golangci/golangci-lint/v2/cmd/golangci-lint,$(GOLANGCI_LINT_VERSION))

.PHONY: kubebuilder
kubebuilder: $(KUBEBUILDER) ## Download kubebuilder locally if necessary (its helm/v2-alpha plugin makes dist/chart).
$(KUBEBUILDER): $(LOCALBIN)
	$(call go-install-tool,$(KUBEBUILDER),sigs.k8s.io/kubebuilder/v4,$(KUBEBUILDER_VERSION))

.PHONY: helm
helm: $(HELM) ## Download helm locally if necessary.
$(HELM): $(LOCALBIN)
	$(call go-install-tool,$(HELM),helm.sh/helm/v4/cmd/helm,$(HELM_VERSION))

# go-install-tool will 'go install' any package with custom target and name of binary, if it doesn't exist
# $1 - target path with name of binary
# $2 - package url which can be installed
# $3 - specific version of package
define go-install-tool
@[ -f "$(1)-$(3)" ] && [ "$$(readlink -- "$(1)" 2>/dev/null)" = "$(1)-$(3)" ] || { \
set -e; \
package=$(2)@$(3) ;\
echo "Downloading $${package}" ;\
rm -f "$(1)" ;\
GOBIN="$(LOCALBIN)" go install $${package} ;\
mv "$(LOCALBIN)/$$(basename "$(1)")" "$(1)-$(3)" ;\
} ;\
ln -sf "$$(realpath "$(1)-$(3)")" "$(1)"
endef

##@ Helm Deployment

## Namespace to deploy the Helm release
HELM_NAMESPACE ?= partner-account-operator-system
## Name of the Helm release
HELM_RELEASE ?= partner-account-operator
## Path to the Helm chart directory
HELM_CHART_DIR ?= dist/chart
## Additional arguments to pass to helm commands
HELM_EXTRA_ARGS ?=

.PHONY: helm-deploy
helm-deploy: helm ## Deploy manager to the K8s cluster via Helm. Specify an image with IMG.
	IMG="$(IMG)"; "$(HELM)" upgrade --install $(HELM_RELEASE) $(HELM_CHART_DIR) \
		--namespace $(HELM_NAMESPACE) \
		--create-namespace \
		--set manager.image.repository=$${IMG%:*} \
		--set manager.image.tag=$${IMG##*:} \
		--wait \
		--timeout 5m \
		$(HELM_EXTRA_ARGS)

.PHONY: helm-uninstall
helm-uninstall: ## Uninstall the Helm release from the K8s cluster.
	"$(HELM)" uninstall $(HELM_RELEASE) --namespace $(HELM_NAMESPACE)

.PHONY: helm-status
helm-status: ## Show Helm release status.
	"$(HELM)" status $(HELM_RELEASE) --namespace $(HELM_NAMESPACE)

.PHONY: helm-history
helm-history: ## Show Helm release history.
	"$(HELM)" history $(HELM_RELEASE) --namespace $(HELM_NAMESPACE)

.PHONY: helm-rollback
helm-rollback: ## Rollback to previous Helm release.
	"$(HELM)" rollback $(HELM_RELEASE) --namespace $(HELM_NAMESPACE)
