/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command kubectl-partneraccount is the kubectl plugin for PartnerAccounts: on
// PATH, it runs as "kubectl partneraccount". See internal/plugin.
package main

import (
	"os"

	// The client auth plugins (OIDC, ...) that kubeconfigs may name.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/partnerbilling/partner-account-operator/internal/plugin"
)

func main() {
	os.Exit(plugin.Main())
}
