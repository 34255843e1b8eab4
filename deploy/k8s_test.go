package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/vigilrec/vigil/internal/cli"
	"github.com/vigilrec/vigil/internal/config"
	"github.com/vigilrec/vigil/internal/testutil"
)

// The Kubernetes API the manifests are validated against comes from the OpenAPI document in
// the k8s.io/kubernetes module, and the PodMonitor's from the Prometheus Operator's CRD: both
// through the Go module proxy, downloaded by bash .ci/run, which names them in these variables.
const (
	openAPIEnv    = "KUBERNETES_OPENAPI"          // api/openapi-spec/swagger.json
	podMonitorEnv = "PROMETHEUS_OPERATOR_CRD_DIR" // example/prometheus-operator-crd
)

// manifest is one YAML document of deploy/k8s.
type manifest struct {
	file       string
	apiVersion string
	kind       string
	doc        map[string]any
}

func readManifests(t *testing.T) []manifest {
	t.Helper()
	var out []manifest
	for _, dir := range []string{"deploy/k8s", "deploy/k8s-cluster"} {
		out = append(out, readManifestDir(t, dir)...)
	}
	return out
}

func readManifestDir(t *testing.T, dir string) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(filepath.Join(root, dir), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return err
			}
			m := manifest{file: path, doc: doc}
			m.apiVersion, _ = doc["apiVersion"].(string)
			m.kind, _ = doc["kind"].(string)
			out = append(out, m)
		}
		return nil
	})
	require.NoError(t, err)
	return out
}

// kindSuffix is kubeconform's name suffix for an API version: "-v1" for the core group,
// "-apps-v1" for apps/v1, "-monitoring-v1" for monitoring.coreos.com/v1.
func kindSuffix(group, version string) string {
	if group == "" {
		return "-" + version
	}
	return "-" + strings.Split(group, ".")[0] + "-" + version
}

// strict turns an OpenAPI schema into the JSON Schema kubeconform checks, as Kubernetes'
// openapi2jsonschema does: objects take no properties they do not declare (the API server
// drops unknown fields silently, which is how a misspelt field goes unnoticed), and the
// int-or-string and quantity formats accept both of their JSON forms.
func strict(v any) any {
	switch v := v.(type) {
	case map[string]any:
		if v["format"] == "int-or-string" {
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
		}
		out := make(map[string]any, len(v)+1)
		for k, x := range v {
			out[k] = strict(x)
		}
		if _, ok := v["properties"]; ok {
			if _, set := v["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = strict(x)
		}
		return out
	}
	return v
}

// refs collects the definitions a schema refers to, transitively.
func refs(defs map[string]any, v any, seen map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		if r, ok := v["$ref"].(string); ok {
			name := strings.TrimPrefix(r, "#/definitions/")
			if !seen[name] {
				seen[name] = true
				refs(defs, defs[name], seen)
			}
		}
		for _, x := range v {
			refs(defs, x, seen)
		}
	case []any:
		for _, x := range v {
			refs(defs, x, seen)
		}
	}
}

// writeSchemas writes one standalone schema per kind the manifests use into dir, named as
// kubeconform's -schema-location template below expects.
func writeSchemas(t *testing.T, dir, openAPI, crdDir string, used []manifest) {
	t.Helper()
	data, err := os.ReadFile(openAPI)
	require.NoError(t, err)
	var spec struct {
		Definitions map[string]any `json:"definitions"`
	}
	require.NoError(t, json.Unmarshal(data, &spec))
	defs := spec.Definitions
	// A quantity ("500m", "1Gi", 2) is a string in the document but a number is accepted too.
	defs["io.k8s.apimachinery.pkg.api.resource.Quantity"] = map[string]any{
		"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}

	want := map[string]bool{}
	for _, m := range used {
		want[m.apiVersion+" "+m.kind] = true
	}
	write := func(kind, group, version string, schema any) {
		name := strings.ToLower(kind) + kindSuffix(group, version) + ".json"
		data, err := json.Marshal(schema)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
		apiVersion := version
		if group != "" {
			apiVersion = group + "/" + version
		}
		delete(want, apiVersion+" "+kind)
	}
	for name, def := range defs {
		gvks, _ := def.(map[string]any)["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk := g.(map[string]any)
			group, kind, version := gvk["group"].(string), gvk["kind"].(string), gvk["version"].(string)
			apiVersion := version
			if group != "" {
				apiVersion = group + "/" + version
			}
			if !want[apiVersion+" "+kind] {
				continue
			}
			seen := map[string]bool{name: true}
			refs(defs, def, seen)
			sub := map[string]any{}
			for n := range seen {
				sub[n] = strict(defs[n])
			}
			write(kind, group, version, map[string]any{"$ref": "#/definitions/" + name, "definitions": sub})
		}
	}

	// Custom resources: the openAPIV3Schema of each served version of each CRD.
	crds, err := filepath.Glob(filepath.Join(crdDir, "*.yaml"))
	require.NoError(t, err)
	for _, path := range crds {
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		var crd struct {
			Spec struct {
				Group string `yaml:"group"`
				Names struct {
					Kind string `yaml:"kind"`
				} `yaml:"names"`
				Versions []struct {
					Name   string `yaml:"name"`
					Schema struct {
						OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
					} `yaml:"schema"`
				} `yaml:"versions"`
			} `yaml:"spec"`
		}
		require.NoError(t, yaml.Unmarshal(data, &crd), path)
		for _, v := range crd.Spec.Versions {
			if want[crd.Spec.Group+"/"+v.Name+" "+crd.Spec.Names.Kind] {
				write(crd.Spec.Names.Kind, crd.Spec.Group, v.Name, strict(v.Schema.OpenAPIV3Schema))
			}
		}
	}
	delete(want, "kustomize.config.k8s.io/v1beta1 Kustomization") // kustomize's own file, not an API object
	require.Empty(t, want, "no schema for these kinds")
}

// fromModuleCache finds a file of a module .ci/run downloaded when its variable is not set.
func fromModuleCache(t *testing.T, env, module, rel string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		return p
	}
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), module, rel)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testutil.Missing(t, fmt.Sprintf("%s is not set and %s is not in the module cache (bash .ci/run downloads it)", env, module))
	return ""
}

// TestKubernetesManifestsValidate checks deploy/k8s against the Kubernetes API's schemas with
// kubeconform, strictly (an unknown or misspelt field fails), offline.
func TestKubernetesManifestsValidate(t *testing.T) {
	kubeconform := tool(t, "KUBECONFORM", "kubeconform")
	openAPI := fromModuleCache(t, openAPIEnv, "k8s.io/kubernetes@v1.34.4", "api/openapi-spec/swagger.json")
	crdDir := fromModuleCache(t, podMonitorEnv, "github.com/prometheus-operator/prometheus-operator@v0.85.0",
		"example/prometheus-operator-crd")
	manifests := readManifests(t)
	schemas := t.TempDir()
	writeSchemas(t, schemas, openAPI, crdDir, manifests)

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	validate := func(paths ...string) (string, error) {
		args := append([]string{"-strict", "-summary", "-skip", "Kustomization",
			"-schema-location", filepath.Join(schemas, "{{ .ResourceKind }}{{ .KindSuffix }}.json")}, paths...)
		out, err := exec.CommandContext(ctx, kubeconform, args...).CombinedOutput()
		return string(out), err
	}
	out, err := validate(filepath.Join(root, "deploy/k8s"), filepath.Join(root, "deploy/k8s-cluster"))
	t.Logf("kubeconform: %s", strings.TrimSpace(out))
	require.NoError(t, err, out)
	require.Contains(t, out, "Invalid: 0, Errors: 0")

	// The check has teeth: a misspelt field, a port given as a string and a missing required
	// field are each refused.
	sts, err := os.ReadFile(filepath.Join(root, "deploy/k8s/statefulset.yaml"))
	require.NoError(t, err)
	for _, c := range []struct{ from, to, says string }{
		{"  replicas: 1", "  replica: 1", "replica"},
		{"containerPort: 8081", `containerPort: "8081"`, "containerPort"},
		{"  selector:\n    matchLabels:\n      app.kubernetes.io/name: vigil\n  template:", "  template:", "selector"},
	} {
		require.Contains(t, string(sts), c.from)
		bad := filepath.Join(t.TempDir(), "statefulset.yaml")
		require.NoError(t, os.WriteFile(bad, []byte(strings.Replace(string(sts), c.from, c.to, 1)), 0o644))
		out, err := validate(bad)
		require.Error(t, err, "kubeconform accepted %q → %q:\n%s", c.from, c.to, out)
		require.Contains(t, out, c.says)
	}
}

// TestKubernetesConfigIsValid runs vigil config check on the ConfigMap's file with the Secret's
// variables set, and checks that every VIGIL_* variable the manifests set is a real setting.
func TestKubernetesConfigIsValid(t *testing.T) {
	manifests := readManifests(t)
	known := map[string]bool{"VIGIL_CONFIG": true}
	def := config.Default()
	for _, s := range config.Settings(&def) {
		known[s.Env()] = true
	}
	var file string
	var names []string
	for _, m := range manifests {
		switch m.kind {
		case "ConfigMap":
			data := m.doc["data"].(map[string]any)
			file = filepath.Join(t.TempDir(), "vigil.yaml")
			require.NoError(t, os.WriteFile(file, []byte(data["vigil.yaml"].(string)), 0o644))
		case "Secret":
			for k, v := range m.doc["stringData"].(map[string]any) {
				if strings.HasPrefix(k, "VIGIL_") {
					t.Setenv(k, v.(string))
					names = append(names, k)
				}
			}
		case "StatefulSet":
			spec := m.doc["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
			for _, c := range spec["containers"].([]any) {
				for _, e := range c.(map[string]any)["env"].([]any) {
					names = append(names, e.(map[string]any)["name"].(string))
				}
			}
		}
	}
	require.NotEmpty(t, file, "deploy/k8s has no ConfigMap with vigil.yaml")
	for _, n := range names {
		if strings.HasPrefix(n, "VIGIL_") {
			require.True(t, known[n], "%s is not a vigil setting", n)
		}
	}
	require.True(t, slices.Contains(names, "VIGIL_PUBLIC_IPS"))
	// The cluster overlay sets its variables in a patch.
	overlay, err := os.ReadFile(filepath.Join(root, "deploy/k8s-cluster/kustomization.yaml"))
	require.NoError(t, err)
	patched := regexp.MustCompile(`name: (VIGIL_\w+)`).FindAllStringSubmatch(string(overlay), -1)
	require.NotEmpty(t, patched)
	for _, m := range patched {
		require.True(t, known[m[1]], "%s (deploy/k8s-cluster) is not a vigil setting", m[1])
	}

	var stdout, stderr bytes.Buffer
	code := cli.Main(context.Background(), []string{"config", "check", "--config", file}, &stdout, &stderr)
	require.Equal(t, 0, code, "vigil config check on the ConfigMap's file:\n%s%s", stdout.String(), stderr.String())
}
