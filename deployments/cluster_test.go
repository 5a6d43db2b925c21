package deployments

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The three-node forms: compose.cluster.yaml and evlog-cluster.yaml. Each
// node's command line (and EVLOG_* environment) is resolved into its
// options, and the nodes are checked against each other: ids unique,
// one --peers list on every node naming each node once at the address
// it advertises, and Raft's mutual TLS set up on each.

// clusterNode is one node's options, by flag name without dashes.
type clusterNode struct {
	name string // the compose service or the pod
	opts map[string]string
}

// nodeOptions resolves a command line and EVLOG_* variables into
// options, the command line taking precedence. It checks that the
// command is evlog serve and every flag and variable is one it knows.
func nodeOptions(t *testing.T, flags map[string]bool, args []string, env map[string]string) map[string]string {
	t.Helper()
	if len(args) == 0 || args[0] != "serve" {
		t.Fatalf("command %v is not evlog serve", args)
	}
	checkArgs(t, args)
	opts := map[string]string{}
	for name, v := range env {
		checkEnv(t, flags, name)
		if flag, ok := strings.CutPrefix(name, "EVLOG_"); ok {
			opts[strings.ReplaceAll(strings.ToLower(flag), "_", "-")] = v
		}
	}
	for _, a := range args[1:] {
		name, v, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok {
			v = "true"
		}
		opts[name] = v
	}
	return opts
}

// checkClusterNodes checks nodes against each other.
func checkClusterNodes(t *testing.T, nodes []clusterNode) {
	t.Helper()
	if len(nodes) != 3 {
		t.Fatalf("%d nodes, want 3", len(nodes))
	}
	ids := map[string]string{} // node id -> the address its peers dial
	for _, nd := range nodes {
		id := nd.opts["node-id"]
		if id == "" {
			t.Errorf("%s: no --node-id", nd.name)
			continue
		}
		if _, dup := ids[id]; dup {
			t.Errorf("%s: node id %s is another node's", nd.name, id)
		}
		addr := nd.opts["raft-advertise"]
		if addr == "" {
			addr = nd.opts["raft-addr"]
		}
		ids[id] = addr
		for _, f := range []string{"raft-addr", "raft-tls-ca", "raft-tls-cert", "raft-tls-key"} {
			if nd.opts[f] == "" {
				t.Errorf("%s: no --%s", nd.name, f)
			}
		}
		if nd.opts["nats-url"] == "" {
			t.Errorf("%s: no --nats-url: the nodes must share one NATS", nd.name)
		}
		if nd.opts["peers"] != nodes[0].opts["peers"] {
			t.Errorf("%s: --peers %q differs from %s's %q", nd.name, nd.opts["peers"], nodes[0].name, nodes[0].opts["peers"])
		}
	}
	peers := map[string]string{}
	for item := range strings.SplitSeq(nodes[0].opts["peers"], ",") {
		id, addr, ok := strings.Cut(item, "=")
		if !ok {
			t.Fatalf("--peers item %q is not ID=HOST:PORT", item)
		}
		if _, dup := peers[id]; dup {
			t.Errorf("--peers lists %s twice", id)
		}
		peers[id] = addr
	}
	if !maps.Equal(peers, ids) {
		t.Errorf("--peers %v, but the nodes are (id: advertised address) %v", peers, ids)
	}
}

func TestKubernetesCluster(t *testing.T) {
	docs := yamlDocs(t, "kubernetes/evlog-cluster.yaml")
	kinds := map[string]map[string]any{}
	for _, d := range docs {
		kind := d["kind"].(string)
		if kinds[kind] != nil {
			t.Fatalf("two documents of kind %s", kind)
		}
		kinds[kind] = d
	}
	svc, sts, pdb := kinds["Service"], kinds["StatefulSet"], kinds["PodDisruptionBudget"]
	if svc == nil || sts == nil || pdb == nil || kinds["ConfigMap"] == nil {
		t.Fatalf("want a Service, a StatefulSet, a PodDisruptionBudget and a ConfigMap, got %v", slices.Collect(maps.Keys(kinds)))
	}
	want, err := os.ReadFile("nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	if get(t, kinds["ConfigMap"], "data", "roles.conf") != string(want) {
		t.Error("the ConfigMap's roles.conf is not nats/roles.conf")
	}
	if get(t, svc, "spec", "clusterIP") != "None" || get(t, svc, "spec", "publishNotReadyAddresses") != true {
		t.Error("the Raft Service must be headless and publish pods before they are ready (none is ready without a leader)")
	}
	serviceName := get(t, svc, "metadata", "name").(string)
	if get(t, sts, "spec", "serviceName") != serviceName {
		t.Error("the StatefulSet's serviceName is not the headless Service: the pods' DNS names would not resolve")
	}
	if get(t, sts, "spec", "podManagementPolicy") != "Parallel" {
		t.Error("pods must start in parallel: with OrderedReady the first waits for a majority that never starts")
	}
	if get(t, pdb, "spec", "maxUnavailable") != 1 {
		t.Error("the disruption budget must keep a majority: at most one of three unavailable")
	}
	replicas, ok := get(t, sts, "spec", "replicas").(int)
	if !ok {
		t.Fatal("no replica count")
	}
	pod := get(t, sts, "spec", "template", "spec")
	c := get(t, pod, "containers", 0)
	podName := false
	for _, e := range get(t, c, "env").([]any) {
		if get(t, e, "name") == "POD_NAME" {
			podName = get(t, e, "valueFrom", "fieldRef", "fieldPath") == "metadata.name"
		}
	}
	if !podName {
		t.Error("POD_NAME is not the pod's name")
	}
	flags := serveFlags(t)
	args := stringList(t, get(t, c, "args"))
	raftPort := checkK8sPorts(t, svc, c)
	stsName := get(t, sts, "metadata", "name").(string)
	var nodes []clusterNode
	for i := range replicas {
		name := fmt.Sprintf("%s-%d", stsName, i)
		var expanded []string
		for _, a := range args {
			expanded = append(expanded, strings.ReplaceAll(a, "$(POD_NAME)", name))
		}
		opts := nodeOptions(t, flags, expanded, nil)
		if want := fmt.Sprintf("%s.%s:%d", name, serviceName, raftPort); opts["raft-advertise"] != want {
			t.Errorf("%s advertises %q, want its DNS name %s", name, opts["raft-advertise"], want)
		}
		nodes = append(nodes, clusterNode{name: name, opts: opts})
	}
	checkClusterNodes(t, nodes)
	checkK8sRaftTLS(t, pod, c, nodes)
}

// checkK8sPorts checks the Raft and metrics ports of the container and
// the Service, and returns the Raft port.
func checkK8sPorts(t *testing.T, svc, c any) int {
	t.Helper()
	ports := map[string]int{}
	for _, p := range get(t, c, "ports").([]any) {
		ports[get(t, p, "name").(string)] = get(t, p, "containerPort").(int)
	}
	if ports["raft"] == 0 || ports["metrics"] != 9090 {
		t.Errorf("container ports %v: want raft and metrics 9090", ports)
	}
	for _, p := range get(t, svc, "spec", "ports").([]any) {
		name := get(t, p, "name").(string)
		if get(t, p, "port") != ports[name] || get(t, p, "targetPort") != name {
			t.Errorf("service port %s does not lead to the container's", name)
		}
	}
	return ports["raft"]
}

// checkK8sRaftTLS checks that every node's Raft TLS files are in the
// mounted Secret.
func checkK8sRaftTLS(t *testing.T, pod, c any, nodes []clusterNode) {
	t.Helper()
	secrets := map[string]string{} // volume name -> secret name
	for _, v := range get(t, pod, "volumes").([]any) {
		if s, ok := get(t, v, "secret").(map[string]any); ok {
			secrets[get(t, v, "name").(string)] = s["secretName"].(string)
			if s["defaultMode"] != 0o440 {
				t.Errorf("secret volume mode %v, want 0440 (the pod's group, fsGroup)", s["defaultMode"])
			}
		}
	}
	var dir string
	for _, m := range get(t, c, "volumeMounts").([]any) {
		if secrets[get(t, m, "name").(string)] == "evlog-raft-tls" {
			dir = get(t, m, "mountPath").(string)
		}
	}
	if dir == "" {
		t.Fatal("the Secret evlog-raft-tls is not mounted")
	}
	for _, nd := range nodes {
		for flag, file := range map[string]string{"raft-tls-ca": "ca.crt", "raft-tls-cert": nd.name + ".crt", "raft-tls-key": nd.name + ".key"} {
			if want := dir + "/" + file; nd.opts[flag] != want {
				t.Errorf("%s: --%s %q, want %s, as raft-certs.sh names it", nd.name, flag, nd.opts[flag], want)
			}
		}
	}
}

func TestComposeCluster(t *testing.T) {
	docs := yamlDocs(t, "compose/compose.cluster.yaml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	services := get(t, docs[0], "services").(map[string]any)
	if services["nats"] == nil {
		t.Fatal("no nats service")
	}
	flags := serveFlags(t)
	var nodes []clusterNode
	volumes := map[string]string{}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		if name == "nats" {
			continue
		}
		svc := services[name]
		env := map[string]string{}
		for k, v := range get(t, svc, "environment").(map[string]any) {
			env[k] = v.(string)
			if strings.Contains(k, "PASSWORD") && !strings.Contains(v.(string), ":?") {
				t.Errorf("%s: %s has a default; a forgotten password must stop the start", name, k)
			}
		}
		opts := nodeOptions(t, flags, stringList(t, get(t, svc, "command")), env)
		if host, _, _ := strings.Cut(opts["raft-advertise"], ":"); host != name {
			t.Errorf("%s advertises %q: the other containers reach it by its service name", name, opts["raft-advertise"])
		}
		if get(t, svc, "depends_on", "nats", "condition") != "service_healthy" {
			t.Errorf("%s does not wait for a healthy nats", name)
		}
		mounts := map[string]string{}
		for _, v := range stringList(t, get(t, svc, "volumes")) {
			src, dst, _ := strings.Cut(v, ":")
			dst, _, _ = strings.Cut(dst, ":")
			mounts[dst] = src
		}
		if other, ok := volumes[mounts["/data"]]; ok || mounts["/data"] == "" {
			t.Errorf("%s: /data is %q, shared with %q: each node needs its own", name, mounts["/data"], other)
		}
		volumes[mounts["/data"]] = name
		certs := mounts[filepath.Dir(opts["raft-tls-cert"])]
		if certs != "./raft-certs" || filepath.Base(opts["raft-tls-cert"]) != name+".crt" || filepath.Base(opts["raft-tls-key"]) != name+".key" {
			t.Errorf("%s: Raft TLS files %s and %s, mounted from %q; want %s.crt and .key of ./raft-certs, as raft-certs.sh names them",
				name, opts["raft-tls-cert"], opts["raft-tls-key"], certs, name)
		}
		nodes = append(nodes, clusterNode{name: name, opts: opts})
	}
	checkClusterNodes(t, nodes)
	// The generated keys must never be committed.
	ignore, err := os.ReadFile("compose/.gitignore")
	if err != nil || !slices.Contains(strings.Fields(string(ignore)), "raft-certs/") {
		t.Errorf("compose/.gitignore does not ignore raft-certs/: %v", err)
	}
}

// TestRaftCertsScript runs raft-certs.sh and checks what it made: each
// node's certificate verifies against the CA for both server and client
// use under each of its names, and matches its key.
func TestRaftCertsScript(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed: raft-certs.sh not run")
	}
	dir := t.TempDir()
	run := func(args ...string) ([]byte, error) {
		return exec.Command("tls/raft-certs.sh", append([]string{dir}, args...)...).CombinedOutput()
	}
	if out, err := run("n1=evlog-0.evlog-raft,127.0.0.1", "n2=localhost"); err != nil {
		t.Fatalf("raft-certs.sh: %v\n%s", err, out)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	for node, names := range map[string][]string{"n1": {"evlog-0.evlog-raft", "127.0.0.1"}, "n2": {"localhost"}} {
		pair, err := tls.LoadX509KeyPair(filepath.Join(dir, node+".crt"), filepath.Join(dir, node+".key"))
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		for _, name := range names {
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				_, err := pair.Leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool, KeyUsages: []x509.ExtKeyUsage{usage}})
				if err != nil {
					t.Errorf("%s as %s (usage %v): %v", node, name, usage, err)
				}
			}
		}
		if fi, err := os.Stat(filepath.Join(dir, node+".key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s.key: mode %v (%v), want 0600", node, fi.Mode().Perm(), err)
		}
	}
	for _, bad := range [][]string{{"n.1=host"}, {"n3"}, {"n3="}} {
		if out, err := run(bad...); err == nil {
			t.Errorf("raft-certs.sh %v succeeded:\n%s", bad, out)
		}
	}
}
