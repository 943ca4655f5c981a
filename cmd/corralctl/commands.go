package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/coder/websocket"
	"gopkg.in/yaml.v3"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/configs"
	"github.com/corral-dev/corral/exporter/contract"
	"github.com/corral-dev/corral/scrape/expo"
	"github.com/corral-dev/corral/targets/filesd"
)

type loginCmd struct {
	Server        string `required:"" help:"corral's base URL, e.g. http://localhost:9480."`
	Username      string `required:"" help:"User name."`
	PasswordStdin bool   `name:"password-stdin" help:"Read the password from stdin (else $$CORRAL_PASSWORD)."`
	ExpiresInDays int    `name:"expires-in-days" default:"90" help:"Lifetime of the API token."`
}

func (o loginCmd) Run(ctx context.Context, g *globals) error {
	return login(ctx, o, g.config, g.stdin, g.stdout)
}

func login(ctx context.Context, o loginCmd, cfgFlag string, stdin io.Reader, out io.Writer) error {
	path, err := configPath(cfgFlag)
	if err != nil {
		return err
	}
	pw := os.Getenv("CORRAL_PASSWORD")
	if o.PasswordStdin {
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if pw == "" {
		return errors.New("no password: pipe it with --password-stdin or set CORRAL_PASSWORD")
	}
	c := newClient(o.Server, "")
	var me struct {
		CSRF string `json:"csrf_token"`
	}
	if err := c.do(ctx, http.MethodPost, "/api/v1/login", nil, map[string]string{"username": o.Username, "password": pw}, &me); err != nil {
		return err
	}
	c.csrf = me.CSRF
	host, _ := os.Hostname()
	var created struct {
		Secret string `json:"secret"`
	}
	days := o.ExpiresInDays
	if err := c.do(ctx, http.MethodPost, "/api/v1/tokens", nil, map[string]any{"name": "corralctl@" + host, "expires_in_days": days}, &created); err != nil {
		return err
	}
	_ = c.do(ctx, http.MethodPost, "/api/v1/logout", nil, nil, nil)
	if err := saveCtlConfig(path, ctlConfig{Server: o.Server, Token: created.Secret}); err != nil {
		return err
	}
	fmt.Fprintf(out, "logged in to %s as %s; token saved in %s (expires in %d days)\n", o.Server, o.Username, path, days)
	return nil
}

func apiClient(cfgFlag string) (*client, error) {
	path, err := configPath(cfgFlag)
	if err != nil {
		return nil, err
	}
	cfg, err := loadCtlConfig(path)
	if err != nil {
		return nil, err
	}
	return newClient(cfg.Server, cfg.Token), nil
}

type getCmd struct {
	Collectors getCollectorsCmd `cmd:"" help:"List collectors."`
}

type getCollectorsCmd struct {
	Status []string `help:"Only these statuses (repeatable)."`
	Job    string   `help:"Only this job."`
	Org    string   `help:"Only this org."`
	Team   string   `help:"Only this team."`
	Label  []string `help:"Label matcher k=v, k!=v, k=~re, k!~re (repeatable)."`
	Group  []string `help:"Only these groups, as update-config set them (repeatable: any of them)."`
	Tag    []string `help:"Only collectors with this tag (repeatable: every one of them)."`
	Query  string   `short:"q" help:"Free text."`
	Sort   string   `default:"id" help:"Column to sort by; - for descending (e.g. -freshness)."`
	Limit  int      `default:"100" help:"Rows per page (at most 1000)."`
	Page   int      `default:"1" help:"Page."`
	Output string   `short:"o" default:"table" enum:"table,wide,json,yaml" help:"Output: ${enum}."`
}

func (o getCollectorsCmd) Run(ctx context.Context, g *globals) error {
	return getCollectors(ctx, o, g.config, g.stdout)
}

// collectorRow is what get collectors -o json|yaml prints of a collector: the
// columns of its wide table, not the whole wire.Collector.
type collectorRow struct {
	ID              string            `json:"id" yaml:"id"`
	Status          string            `json:"status" yaml:"status"`
	Reason          string            `json:"reason" yaml:"reason"`
	Job             string            `json:"job" yaml:"job"`
	Instance        string            `json:"instance" yaml:"instance"`
	Org             string            `json:"org" yaml:"org"`
	Team            string            `json:"team" yaml:"team"`
	Labels          map[string]string `json:"labels" yaml:"labels"`
	LastSeen        *time.Time        `json:"last_seen" yaml:"last_seen"`
	Freshness       *float64          `json:"freshness_seconds" yaml:"freshness_seconds"`
	Completeness1h  *float64          `json:"completeness_1h" yaml:"completeness_1h"`
	Completeness24h *float64          `json:"completeness_24h" yaml:"completeness_24h"`
}

func rowOf(c wire.Collector) collectorRow {
	return collectorRow{ID: c.ID, Status: c.Status, Reason: c.Reason, Job: c.Job, Instance: c.Instance, Org: c.Org, Team: c.Team,
		Labels: c.Labels, LastSeen: c.LastSeen, Freshness: c.Freshness, Completeness1h: c.Completeness1h, Completeness24h: c.Completeness24h}
}

func getCollectors(ctx context.Context, o getCollectorsCmd, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	q := url.Values{}
	for _, s := range o.Status {
		q.Add("status", s)
	}
	for _, l := range o.Label {
		q.Add("label", l)
	}
	for _, g := range o.Group {
		q.Add("group", g)
	}
	for _, tg := range o.Tag {
		q.Add("tag", tg)
	}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("job", o.Job)
	set("team", o.Team)
	set("org", o.Org)
	set("q", o.Query)
	set("sort", o.Sort)
	q.Set("limit", fmt.Sprint(o.Limit))
	q.Set("page", fmt.Sprint(o.Page))
	var list wire.CollectorList
	if err := c.do(ctx, http.MethodGet, "/api/v1/collectors", q, nil, &list); err != nil {
		return err
	}
	switch o.Output {
	case "json", "yaml":
		rows := make([]collectorRow, len(list.Data))
		for i, r := range list.Data {
			rows[i] = rowOf(r)
		}
		if o.Output == "json" {
			return printJSON(out, rows)
		}
		return yaml.NewEncoder(out).Encode(rows)
	}
	tw := newTable(out)
	if o.Output == "wide" {
		fmt.Fprintln(tw, "COLLECTOR\tSTATUS\tJOB\tINSTANCE\tTEAM\tLAST SEEN\tFRESHNESS\tCOMPLETE 1H\tREASON")
	} else {
		fmt.Fprintln(tw, "COLLECTOR\tSTATUS\tJOB\tLAST SEEN\tFRESHNESS\tCOMPLETE 1H")
	}
	for _, r := range list.Data {
		seen := "never"
		if r.LastSeen != nil {
			seen = time.Since(*r.LastSeen).Round(time.Second).String() + " ago"
		}
		if o.Output == "wide" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Job, r.Instance, r.Team, seen, secs(r.Freshness), pct(r.Completeness1h), r.Reason)
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Status, r.Job, seen, secs(r.Freshness), pct(r.Completeness1h))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if list.Total > len(list.Data) {
		fmt.Fprintf(out, "(%d of %d; --page and --limit for more)\n", len(list.Data), list.Total)
	}
	return nil
}

func secs(f *float64) string {
	if f == nil {
		return "-"
	}
	return (time.Duration(*f * float64(time.Second))).Round(time.Second).String()
}

func pct(f *float64) string {
	if f == nil {
		return "-"
	}
	return fmt.Sprintf("%.0f%%", *f*100)
}

type describeCmd struct {
	Collector describeCollectorCmd `cmd:"" help:"Show a collector."`
}

type describeCollectorCmd struct {
	ID     string `arg:"" help:"Collector id."`
	Output string `short:"o" default:"yaml" enum:"yaml,json" help:"Output: ${enum}."`
}

func (o describeCollectorCmd) Run(ctx context.Context, g *globals) error {
	return describeCollector(ctx, o.ID, o.Output, g.config, g.stdout)
}

func describeCollector(ctx context.Context, id, output, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	var detail map[string]any
	if err := c.do(ctx, http.MethodGet, "/api/v1/collectors/"+url.PathEscape(id), nil, nil, &detail); err != nil {
		return err
	}
	if output == "json" {
		return printJSON(out, detail)
	}
	return yaml.NewEncoder(out).Encode(detail)
}

type historyCmd struct {
	ID     string `arg:"" help:"Collector id."`
	Limit  int    `default:"50" help:"Rows."`
	Output string `short:"o" default:"table" enum:"table,json" help:"Output: ${enum}."`
}

func (o historyCmd) Run(ctx context.Context, g *globals) error {
	return history(ctx, o, g.config, g.stdout)
}

func history(ctx context.Context, o historyCmd, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	q := url.Values{"limit": {fmt.Sprint(o.Limit)}}
	var h wire.History
	if err := c.do(ctx, http.MethodGet, "/api/v1/collectors/"+url.PathEscape(o.ID)+"/history", q, nil, &h); err != nil {
		return err
	}
	if o.Output == "json" {
		// history -o json prints a change without its kind, as it always did.
		type change struct {
			At     time.Time `json:"at"`
			From   string    `json:"from"`
			To     string    `json:"to"`
			Reason string    `json:"reason"`
		}
		rows := make([]change, len(h.Data))
		for i, e := range h.Data {
			rows[i] = change{At: e.At, From: e.From, To: e.To, Reason: e.Reason}
		}
		return printJSON(out, rows)
	}
	tw := newTable(out)
	fmt.Fprintln(tw, "TIME\tFROM\tTO\tREASON")
	for _, e := range h.Data {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", localTime(&e.At), e.From, e.To, e.Reason)
	}
	return tw.Flush()
}

type checkCmd struct {
	SD      checkSDCmd      `cmd:"" name:"sd" help:"Validate file_sd files as corral reads them."`
	Config  checkConfigCmd  `cmd:"" help:"Validate a corral.yml."`
	Metrics checkMetricsCmd `cmd:"" help:"Lint an agent's exposition against corral's metric contract."`
}

type checkSDCmd struct {
	Files []string `arg:"" type:"existingfile" help:"file_sd files (YAML or JSON)."`
}

func (o checkSDCmd) Run(g *globals) error { return checkSD(o.Files, g.stdout) }

type checkConfigCmd struct {
	File string `arg:"" type:"existingfile" help:"corral.yml"`
}

func (o checkConfigCmd) Run(g *globals) error { return checkConfig(o.File, g.stdout) }

type checkMetricsCmd struct {
	URL   string `arg:"" help:"An agent's /metrics URL."`
	Token string `help:"Bearer token for /metrics (else $$CORRAL_METRICS_TOKEN)." env:"CORRAL_METRICS_TOKEN"`
}

func (o checkMetricsCmd) Run(ctx context.Context, g *globals) error {
	return checkMetrics(ctx, o.URL, o.Token, g.stdout)
}

// checkSD validates file_sd files as corral reads them.
func checkSD(files []string, out io.Writer) error {
	failed := false
	for _, f := range files {
		groups, dropped, err := filesd.ReadFile(f)
		if err != nil {
			fmt.Fprintf(out, "%s: FAILED: %v\n", f, err)
			failed = true
			continue
		}
		n := 0
		for _, g := range groups {
			n += len(g.Targets)
		}
		if len(dropped) == 0 {
			fmt.Fprintf(out, "%s: OK, %d groups, %d targets\n", f, len(groups), n)
			continue
		}
		// Prometheus reads such a file and scrapes the rest: a warning, yet
		// not OK, since those targets are not what the file says.
		failed = true
		fmt.Fprintf(out, "%s: WARNING: %d groups, %d targets, %d dropped:\n", f, len(groups), n, len(dropped))
		for _, d := range dropped {
			fmt.Fprintf(out, "  group %d: target %q: %s\n", d.Group, d.Target, d.Reason)
		}
	}
	if failed {
		return errNotOK
	}
	return nil
}

// checkConfig validates a corral.yml (an agent config is checked by corral-agent).
func checkConfig(file string, out io.Writer) error {
	if _, err := configs.Load(file); err != nil {
		fmt.Fprintf(out, "%s: FAILED: %v\n", file, err)
		return errNotOK
	}
	fmt.Fprintf(out, "%s: OK\n", file)
	return nil
}

// required is what every corral agent must expose, with the type it must have.
var required = map[string]expo.Type{
	contract.MetricInfo:             expo.Gauge,
	contract.MetricState:            expo.Gauge,
	contract.MetricItems:            expo.Counter,
	contract.MetricLastItem:         expo.Gauge,
	contract.MetricExpectedItems:    expo.Gauge,
	contract.MetricExpectedInterval: expo.Gauge,
	contract.MetricCollections:      expo.Counter,
	contract.MetricDuration:         expo.Histogram,
	contract.MetricLastCollection:   expo.Gauge,
	contract.MetricConfigGeneration: expo.Gauge,
	contract.MetricCommands:         expo.Counter,
}

// checkMetrics lints an agent's exposition against the contract.
func checkMetrics(ctx context.Context, target, bearer string, out io.Writer) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", target, resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	var p expo.Parser
	om := strings.HasPrefix(resp.Header.Get("Content-Type"), "application/openmetrics-text")
	if err := p.Parse(body, om, 0); err != nil {
		fmt.Fprintf(out, "%s: FAILED: the exposition does not parse: %v\n", target, err)
		return errNotOK
	}
	types := map[string]expo.Type{}
	for _, f := range p.Families() {
		types[string(f.Name)] = f.Type
	}
	var problems []string
	for name, want := range required {
		got, ok := types[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("%s is missing", name))
		case got != want:
			problems = append(problems, fmt.Sprintf("%s is a %s, want a %s", name, got, want))
		}
	}
	states := 0
	for _, s := range p.Samples() {
		if string(s.Name) == "corral_collector_state" && s.Value == 1 {
			states++
		}
	}
	if states != 1 {
		problems = append(problems, fmt.Sprintf("corral_collector_state has %d states at 1, want exactly one", states))
	}
	sort.Strings(problems)
	for _, pr := range problems {
		fmt.Fprintf(out, "%s: %s\n", target, pr)
	}
	if len(problems) > 0 {
		return errNotOK
	}
	fmt.Fprintf(out, "%s: OK, %d samples, the corral contract is complete\n", target, len(p.Samples()))
	return nil
}

type watchCmd struct {
	Collector []string `help:"Only these collectors (repeatable)."`
	Type      []string `help:"Only these event types, e.g. collector:status-changed (repeatable)."`
	Status    []string `help:"Only collectors in these statuses (repeatable)."`
}

func (o watchCmd) Run(ctx context.Context, g *globals) error {
	return watch(ctx, o, g.config, g.stdout)
}

// watch prints the real-time events of /api/v1/ws, one JSON object per line.
func watch(ctx context.Context, o watchCmd, cfgFlag string, out io.Writer) error {
	c, err := apiClient(cfgFlag)
	if err != nil {
		return err
	}
	conn, err := c.dialEvents(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(websocket.StatusNormalClosure, "")
	if len(o.Collector) > 0 || len(o.Type) > 0 || len(o.Status) > 0 {
		sub, _ := json.Marshal(map[string]any{"action": "subscribe", "collectors": o.Collector, "types": o.Type,
			"filter": map[string]any{"status": o.Status}})
		if err := conn.Write(ctx, websocket.MessageText, sub); err != nil {
			return err
		}
	}
	for {
		_, msg, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil // Ctrl-C
			}
			return fmt.Errorf("event stream ended: %w", err)
		}
		fmt.Fprintln(out, string(msg))
	}
}

// dialEvents opens the server's real-time WebSocket with the client's token.
func (c *client) dialEvents(ctx context.Context) (*websocket.Conn, error) {
	wsURL := "ws" + strings.TrimPrefix(c.base, "http") + "/api/v1/ws"
	hdr := http.Header{"Authorization": {"Bearer " + c.token}}
	conn, resp, err := websocket.Dial(ctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
	if err != nil {
		if resp != nil && (resp.StatusCode == 401 || resp.StatusCode == 403) {
			return nil, &apiError{Status: resp.StatusCode, Message: "the server refused the token; run corralctl login again", Code: "unauthenticated"}
		}
		return nil, fmt.Errorf("connect to %s: %w", wsURL, err)
	}
	conn.SetReadLimit(1 << 20)
	return conn, nil
}

type versionCmd struct{}

func (versionCmd) Run(g *globals) error {
	fmt.Fprintln(g.stdout, "corralctl", version)
	return nil
}
