package deployments

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"gopkg.in/yaml.v3"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// binary builds cmd/evlog once for all tests.
func binary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		buildDir, buildErr = os.MkdirTemp("", "evlog-deployments-")
		if buildErr != nil {
			return
		}
		binPath = filepath.Join(buildDir, "evlog")
		out, err := exec.Command("go", "build", "-o", binPath, "github.com/evlog/evlog/cmd/evlog").CombinedOutput()
		if err != nil {
			buildErr = errors.New(string(out))
		}
	})
	if buildErr != nil {
		t.Fatalf("build evlog: %v", buildErr)
	}
	return binPath
}

// serveFlags returns the flag names `evlog serve --help` lists.
func serveFlags(t *testing.T) map[string]bool {
	t.Helper()
	out, _ := exec.Command(binary(t), "serve", "--help").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z][a-z0-9-]*)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["metrics-addr"] || !flags["nats-url"] {
		t.Fatalf("no flags found in serve --help:\n%s", out)
	}
	return flags
}

// checkArgs runs the binary with args and --help: it exits 0 only if
// every flag exists and every value parses.
func checkArgs(t *testing.T, args []string) {
	t.Helper()
	cmd := exec.Command(binary(t), append(slices.Clone(args), "--help")...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("evlog %s: %v\n%s", strings.Join(args, " "), err, lastLine(out))
	}
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// checkEnv checks that an EVLOG_* variable names a serve flag.
func checkEnv(t *testing.T, flags map[string]bool, name string) {
	t.Helper()
	if !strings.HasPrefix(name, "EVLOG_") {
		return
	}
	flag := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "EVLOG_")), "_", "-")
	if !flags[flag] {
		t.Errorf("%s names no flag of evlog serve", name)
	}
}

// yamlDocs decodes every document of a YAML file into generic maps.
func yamlDocs(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var d map[string]any
		err := dec.Decode(&d)
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		docs = append(docs, d)
	}
}

// get walks a decoded YAML value by map keys and list indexes.
func get(t *testing.T, v any, path ...any) any {
	t.Helper()
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				t.Fatalf("at %v: not a map: %v", path, v)
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				t.Fatalf("at %v: not a list of %d: %v", path, k+1, v)
			}
			v = l[k]
		}
	}
	return v
}

func stringList(t *testing.T, v any) []string {
	t.Helper()
	l, ok := v.([]any)
	if !ok {
		t.Fatalf("not a list: %v", v)
	}
	var out []string
	for _, e := range l {
		out = append(out, e.(string))
	}
	return out
}

func TestKubernetesManifests(t *testing.T) {
	docs := yamlDocs(t, "kubernetes/evlog.yaml")
	var svc, sts, roles map[string]any
	for _, d := range docs {
		switch d["kind"] {
		case "Service":
			svc = d
		case "StatefulSet":
			sts = d
		case "ConfigMap":
			roles = d
		}
	}
	want, err := os.ReadFile("nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	if roles == nil || get(t, roles, "data", "roles.conf") != string(want) {
		t.Error("the ConfigMap's roles.conf is not nats/roles.conf")
	}
	if svc == nil || sts == nil {
		t.Fatalf("want a Service and a StatefulSet, got %d documents", len(docs))
	}
	if get(t, svc, "apiVersion") != "v1" || get(t, sts, "apiVersion") != "apps/v1" {
		t.Errorf("api versions %v, %v", svc["apiVersion"], sts["apiVersion"])
	}
	if get(t, svc, "spec", "clusterIP") != "None" {
		t.Error("the Service is not headless")
	}
	if get(t, sts, "spec", "serviceName") != get(t, svc, "metadata", "name") {
		t.Error("the StatefulSet's serviceName is not the headless Service")
	}
	if get(t, sts, "spec", "replicas") != 1 {
		t.Error("more than one replica would split one prefix between logs")
	}
	labels := get(t, sts, "spec", "template", "metadata", "labels").(map[string]any)
	for k, v := range get(t, sts, "spec", "selector", "matchLabels").(map[string]any) {
		if labels[k] != v {
			t.Errorf("selector %s=%v does not match the pod labels", k, v)
		}
	}
	for k, v := range get(t, svc, "spec", "selector").(map[string]any) {
		if labels[k] != v {
			t.Errorf("service selector %s=%v does not match the pod labels", k, v)
		}
	}
	pod := get(t, sts, "spec", "template", "spec")
	if get(t, pod, "securityContext", "runAsNonRoot") != true {
		t.Error("pod may run as root")
	}
	c := get(t, pod, "containers", 0)
	args := stringList(t, get(t, c, "args"))
	checkArgs(t, args)
	if !slices.Contains(args, "--metrics-addr=:9090") || !slices.Contains(args, "--dir=/data") {
		t.Errorf("args %v: want --metrics-addr=:9090 and --dir=/data", args)
	}
	if get(t, c, "ports", 0, "containerPort") != 9090 || get(t, c, "ports", 0, "name") != "metrics" {
		t.Error("container port is not metrics 9090")
	}
	for probe, path := range map[string]string{"startupProbe": "/healthz", "livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
		if get(t, c, probe, "httpGet", "path") != path || get(t, c, probe, "httpGet", "port") != "metrics" {
			t.Errorf("%s is not %s on the metrics port", probe, path)
		}
	}
	if get(t, c, "resources", "requests", "memory") == nil || get(t, c, "resources", "limits", "memory") == nil {
		t.Error("no memory request or limit")
	}
	if get(t, c, "securityContext", "allowPrivilegeEscalation") != false || get(t, c, "securityContext", "readOnlyRootFilesystem") != true {
		t.Error("container securityContext not locked down")
	}
	flags := serveFlags(t)
	for _, e := range get(t, c, "env").([]any) {
		checkEnv(t, flags, get(t, e, "name").(string))
	}
	mount := get(t, c, "volumeMounts", 0)
	if get(t, mount, "mountPath") != "/data" || get(t, mount, "name") != get(t, sts, "spec", "volumeClaimTemplates", 0, "metadata", "name") {
		t.Error("/data is not the volume claim template")
	}
}

func TestCompose(t *testing.T) {
	docs := yamlDocs(t, "compose/compose.yaml")
	if len(docs) != 1 {
		t.Fatalf("%d documents", len(docs))
	}
	services := get(t, docs[0], "services").(map[string]any)
	if services["nats"] == nil || services["evlog"] == nil {
		t.Fatalf("services %v: want nats and evlog", services)
	}
	ev := services["evlog"]
	args := stringList(t, get(t, ev, "command"))
	checkArgs(t, args)
	if !slices.Contains(args, "--nats-url=nats://nats:4222") {
		t.Errorf("evlog does not join the nats service: %v", args)
	}
	if get(t, ev, "depends_on", "nats", "condition") != "service_healthy" {
		t.Error("evlog does not wait for a healthy nats")
	}
	flags := serveFlags(t)
	for name := range get(t, ev, "environment").(map[string]any) {
		checkEnv(t, flags, name)
	}
	ctx := filepath.Join("compose", get(t, ev, "build", "context").(string))
	if _, err := os.Stat(filepath.Join(ctx, get(t, ev, "build", "dockerfile").(string))); err != nil {
		t.Errorf("build: %v", err)
	}
	if _, err := os.Stat(filepath.Join(ctx, "go.mod")); err != nil {
		t.Errorf("build context is not the module root: %v", err)
	}
	if !slices.ContainsFunc(stringList(t, get(t, ev, "volumes")), func(v string) bool { return strings.HasSuffix(v, ":/data") }) {
		t.Error("no volume on /data")
	}
	mounts := map[string]string{}
	for _, v := range stringList(t, get(t, services["nats"], "volumes")) {
		parts := strings.Split(v, ":")
		if _, err := os.Stat(filepath.Join("compose", parts[0])); err != nil {
			t.Errorf("nats volume: %v", err)
		}
		mounts[filepath.Clean(filepath.Join("compose", parts[0]))] = parts[1]
	}
	// nats-server.conf includes ./roles.conf.
	if conf, roles := mounts["compose/nats-server.conf"], mounts["nats/roles.conf"]; conf == "" || roles != filepath.Join(filepath.Dir(conf), "roles.conf") {
		t.Errorf("roles.conf is not mounted next to nats-server.conf: %v", mounts)
	}
	for _, svc := range []string{"nats", "evlog"} {
		for name, v := range get(t, services[svc], "environment").(map[string]any) {
			if strings.Contains(name, "PASSWORD") && !strings.Contains(v.(string), ":?") {
				t.Errorf("%s: %s=%v has a default; a forgotten password must stop the start", svc, name, v)
			}
		}
	}
}

// rolesEnv sets the passwords roles.conf reads, each "pw-" and its name.
func rolesEnv(t *testing.T) {
	for _, v := range []string{"EVLOG_NATS_PASSWORD", "PRODUCER_NATS_PASSWORD", "CONSUMER_NATS_PASSWORD", "ADMIN_NATS_PASSWORD"} {
		t.Setenv(v, "pw-"+v)
	}
}

// TestNATSServerConf loads compose's nats-server config as nats-server
// would in the container, with roles.conf mounted next to it, and checks
// the roles.
func TestNATSServerConf(t *testing.T) {
	rolesEnv(t)
	dir := t.TempDir()
	for src, dst := range map[string]string{"compose/nats-server.conf": "nats-server.conf", "nats/roles.conf": "roles.conf"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	o, err := server.ProcessConfigFile(filepath.Join(dir, "nats-server.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if o.Host != "0.0.0.0" || o.Port != 4222 {
		t.Errorf("listens on %s:%d, want 0.0.0.0:4222 for the evlog container", o.Host, o.Port)
	}
	checkRoles(t, o)
}

// TestRolesConf loads roles.conf alone, as the embedded server does.
func TestRolesConf(t *testing.T) {
	rolesEnv(t)
	o, err := server.ProcessConfigFile("nats/roles.conf")
	if err != nil {
		t.Fatal(err)
	}
	checkRoles(t, o)
	os.Unsetenv("ADMIN_NATS_PASSWORD")
	if _, err := server.ProcessConfigFile("nats/roles.conf"); err == nil {
		t.Error("roles.conf loads without ADMIN_NATS_PASSWORD")
	}
}

// checkRoles checks the users and what each may publish and subscribe:
// only the service may answer the service's subjects, publish the
// notifications or reply to inboxes.
func checkRoles(t *testing.T, o *server.Options) {
	t.Helper()
	users := map[string]*server.User{}
	for _, u := range o.Users {
		users[u.Username] = u
	}
	if len(users) != 4 || users["evlog"] == nil || users["evlog"].Password != "pw-EVLOG_NATS_PASSWORD" || o.NoAuthUser != "" {
		t.Fatalf("users %v, no_auth_user %q", users, o.NoAuthUser)
	}
	type rule struct {
		pub, sub []string
	}
	allowed := map[string]rule{
		"evlog": {
			pub: []string{"evlog.committed", "evlog.events", "evlog.info", "_INBOX.x.1"},
			sub: []string{"evlog.append", "evlog.truncate", "evlog.snapshot", "$SRV.INFO", "$SRV.PING.evlog", "_INBOX.x"},
		},
		"producer": {pub: []string{"evlog.append", "evlog.read", "evlog.info", "$SRV.INFO"}, sub: []string{"_INBOX.x.1"}},
		"consumer": {pub: []string{"evlog.read", "evlog.info"}, sub: []string{"_INBOX.x.1", "evlog.committed", "evlog.events"}},
		"admin": {
			pub: []string{"evlog.append", "evlog.truncate", "evlog.snapshot", "evlog.cluster.add", "$SRV.STATS"},
			sub: []string{"_INBOX.x.1", "evlog.committed", "evlog.events"},
		},
	}
	denied := map[string]rule{
		"producer": {pub: []string{"evlog.truncate", "evlog.snapshot", "evlog.committed", "evlog.events", "_INBOX.x.1"}, sub: []string{"evlog.committed", "evlog.append", "evlog.info", "$SRV.INFO", ">"}},
		"consumer": {pub: []string{"evlog.append", "evlog.truncate", "evlog.committed", "evlog.events", "_INBOX.x.1"}, sub: []string{"evlog.read", "evlog.info", "$SRV.PING"}},
		"admin":    {pub: []string{"evlog.committed", "evlog.events", "_INBOX.x.1"}, sub: []string{"evlog.append", "evlog.info", "evlog.truncate", "$SRV.INFO"}},
	}
	for name, u := range users {
		if u.Permissions == nil || u.Permissions.Publish == nil || u.Permissions.Subscribe == nil {
			t.Errorf("%s has no publish or subscribe permissions: %+v", name, u.Permissions)
			continue
		}
		for _, s := range allowed[name].pub {
			if !permits(u.Permissions.Publish, s) {
				t.Errorf("%s may not publish %s", name, s)
			}
		}
		for _, s := range allowed[name].sub {
			if !permits(u.Permissions.Subscribe, s) {
				t.Errorf("%s may not subscribe to %s", name, s)
			}
		}
		for _, s := range denied[name].pub {
			if permits(u.Permissions.Publish, s) {
				t.Errorf("%s may publish %s", name, s)
			}
		}
		for _, s := range denied[name].sub {
			if permits(u.Permissions.Subscribe, s) {
				t.Errorf("%s may subscribe to %s", name, s)
			}
		}
	}
	if users["admin"].Permissions.Response == nil {
		t.Error("admin may not acknowledge snapshot chunks (allow_responses)")
	}
}

// permits says whether p lets a client use subject: an allow entry
// matches it and no deny entry does.
func permits(p *server.SubjectPermission, subject string) bool {
	match := func(list []string) bool {
		return slices.ContainsFunc(list, func(pattern string) bool { return subjectMatch(pattern, subject) })
	}
	return (p.Allow == nil || match(p.Allow)) && !match(p.Deny)
}

// subjectMatch is NATS's subject matching: "*" is one token, ">" the
// rest. A wildcard in subject (a subscription) matches only the same
// wildcard or a wider one in pattern.
func subjectMatch(pattern, subject string) bool {
	pt, st := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, p := range pt {
		switch {
		case p == ">":
			return i < len(st)
		case i >= len(st):
			return false
		case st[i] == ">":
			return false
		case p == "*":
			continue
		case p != st[i]:
			return false
		}
	}
	return len(pt) == len(st)
}

func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{
		"FROM golang:1.26 AS build",
		"CGO_ENABLED=0 go build",
		"FROM gcr.io/distroless/static",
		"USER 65532:65532",
		"VOLUME /data",
		"EXPOSE 4222 9090",
		"COPY deployments/nats/roles.conf /etc/evlog/roles.conf",
		`ENTRYPOINT ["/usr/local/bin/evlog"]`,
	} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	flags := serveFlags(t)
	for _, m := range regexp.MustCompile(`\b(EVLOG_[A-Z_]+)=`).FindAllStringSubmatch(df, -1) {
		checkEnv(t, flags, m[1])
	}
	m := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(df)
	if m == nil {
		t.Fatal("no CMD")
	}
	var cmd []string
	if err := yaml.Unmarshal([]byte(m[1]), &cmd); err != nil {
		t.Fatalf("CMD: %v", err)
	}
	checkArgs(t, cmd)
}

func TestSystemdUnit(t *testing.T) {
	b, err := os.ReadFile("systemd/evlog.service")
	if err != nil {
		t.Fatal(err)
	}
	unit := string(b)
	for _, want := range []string{"DynamicUser=yes", "StateDirectory=evlog", "NoNewPrivileges=yes", "ProtectSystem=strict", "KillSignal=SIGTERM",
		"EnvironmentFile=/etc/evlog/secrets.env"} {
		if !strings.Contains(unit, "\n"+want+"\n") {
			t.Errorf("unit lacks %s", want)
		}
	}
	m := regexp.MustCompile(`(?m)^ExecStart=(\S+) (.*)$`).FindStringSubmatch(unit)
	if m == nil {
		t.Fatal("no ExecStart")
	}
	checkArgs(t, strings.Fields(m[2]))

	// The config file it points at must be one evlog accepts; the
	// command line tests resolve it fully, here its names are checked.
	flags := serveFlags(t)
	for _, file := range []string{"evlog.conf", "evlog-cluster.conf"} {
		conf, err := os.ReadFile("systemd/" + file)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(conf), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' {
				continue
			}
			if name, _, _ := strings.Cut(line, " "); !flags[name] {
				t.Errorf("%s: %q is no option of evlog serve", file, name)
			}
		}
	}

	// systemd's own check, with ExecStart pointed at the binary just
	// built, since it insists that the command exists.
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not installed: the unit was not verified by systemd")
	}
	dir := t.TempDir()
	verify := strings.Replace(unit, "ExecStart="+m[1], "ExecStart="+binary(t), 1)
	path := filepath.Join(dir, "evlog.service")
	if err := os.WriteFile(path, []byte(verify), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(sa, "verify", path)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil || strings.Contains(out.String(), "evlog.service") {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out.String())
	}
}
