// Package grafana holds corral's Grafana dashboards as Go values. The JSON files
// beside this file (dashboards/*.json) are written from them by
// `go test ./configs/grafana -update`, and the tests check that every panel's
// query parses with Prometheus's own parser and names only series that corral's
// server or agents serve. Grafana provisioning for the data source and the
// dashboards is in provisioning/.
//
// Building the dashboards in code keeps panel ids, grid positions and the
// variables of every query consistent; an operator who wants to change one in
// Grafana can still edit the JSON there, since it is plain dashboard JSON.
package grafana

import (
	"encoding/json"
	"fmt"
)

// Dashboard is the part of Grafana's dashboard JSON model corral uses.
type Dashboard struct {
	UID           string     `json:"uid"`
	Title         string     `json:"title"`
	Description   string     `json:"description"`
	Tags          []string   `json:"tags"`
	Timezone      string     `json:"timezone"`
	SchemaVersion int        `json:"schemaVersion"`
	Version       int        `json:"version"`
	Editable      bool       `json:"editable"`
	GraphTooltip  int        `json:"graphTooltip"`
	Refresh       string     `json:"refresh"`
	Time          TimeRange  `json:"time"`
	Templating    Templating `json:"templating"`
	Links         []Link     `json:"links"`
	Panels        []*Panel   `json:"panels"`
}

// TimeRange is the dashboard's default time range.
type TimeRange struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// Templating holds the dashboard's variables.
type Templating struct {
	List []Variable `json:"list"`
}

// Variable is a dashboard variable: the data source, or a label's values.
type Variable struct {
	Name       string         `json:"name"`
	Label      string         `json:"label"`
	Type       string         `json:"type"`
	Query      any            `json:"query"`
	Definition string         `json:"definition,omitempty"`
	Datasource *Datasource    `json:"datasource,omitempty"`
	IncludeAll bool           `json:"includeAll"`
	Multi      bool           `json:"multi"`
	AllValue   string         `json:"allValue,omitempty"`
	Refresh    int            `json:"refresh"`
	Sort       int            `json:"sort"`
	Current    map[string]any `json:"current"`
}

// Link is a link in the dashboard's header.
type Link struct {
	Title       string   `json:"title"`
	Type        string   `json:"type"`
	Tags        []string `json:"tags"`
	AsDropdown  bool     `json:"asDropdown"`
	IncludeVars bool     `json:"includeVars"`
	KeepTime    bool     `json:"keepTime"`
}

// Datasource points a panel or variable at the data source variable.
type Datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// GridPos is a panel's place on Grafana's 24-column grid.
type GridPos struct {
	X int `json:"x"`
	Y int `json:"y"`
	W int `json:"w"`
	H int `json:"h"`
}

// Panel is one panel (or a row header).
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     GridPos        `json:"gridPos"`
	Datasource  *Datasource    `json:"datasource,omitempty"`
	Targets     []Target       `json:"targets,omitempty"`
	FieldConfig *FieldConfig   `json:"fieldConfig,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Panels      []*Panel       `json:"panels,omitempty"`
	// Transformations reshape a table's frame (hide columns, say).
	Transformations []map[string]any `json:"transformations,omitempty"`
}

// Target is one PromQL query of a panel.
type Target struct {
	RefID        string      `json:"refId"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat,omitempty"`
	Instant      bool        `json:"instant,omitempty"`
	Range        bool        `json:"range,omitempty"`
	Format       string      `json:"format,omitempty"`
	Datasource   *Datasource `json:"datasource"`
}

// FieldConfig holds a panel's units, thresholds, mappings and overrides.
type FieldConfig struct {
	Defaults  FieldDefaults `json:"defaults"`
	Overrides []Override    `json:"overrides"`
}

// FieldDefaults are the field settings of every series of a panel.
type FieldDefaults struct {
	Unit       string         `json:"unit,omitempty"`
	Min        *float64       `json:"min,omitempty"`
	Max        *float64       `json:"max,omitempty"`
	Decimals   *int           `json:"decimals,omitempty"`
	Color      map[string]any `json:"color,omitempty"`
	Thresholds *Thresholds    `json:"thresholds,omitempty"`
	Mappings   []any          `json:"mappings,omitempty"`
	Custom     map[string]any `json:"custom,omitempty"`
	Links      []DataLink     `json:"links,omitempty"`
}

// DataLink is a link from a value, e.g. to the collector's page.
type DataLink struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Thresholds colour values by steps.
type Thresholds struct {
	Mode  string `json:"mode"`
	Steps []Step `json:"steps"`
}

// Step is one threshold step; a nil Value is the base.
type Step struct {
	Color string   `json:"color"`
	Value *float64 `json:"value"`
}

// Override changes the field settings of the series it matches.
type Override struct {
	Matcher    map[string]any   `json:"matcher"`
	Properties []map[string]any `json:"properties"`
}

// JSON is the dashboard as Grafana reads it, indented, with a final newline.
func (d *Dashboard) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("dashboard %s: %w", d.UID, err)
	}
	return append(b, '\n'), nil
}

// Queries is every PromQL expression of the dashboard's panels and variables,
// with the panel title it belongs to.
func (d *Dashboard) Queries() []Query {
	var qs []Query
	for _, v := range d.Templating.List {
		if v.Type == "query" {
			qs = append(qs, Query{Panel: "variable " + v.Name, Expr: v.Definition, Variable: true})
		}
	}
	var walk func(ps []*Panel)
	walk = func(ps []*Panel) {
		for _, p := range ps {
			for _, t := range p.Targets {
				qs = append(qs, Query{Panel: p.Title, Expr: t.Expr, Instant: t.Instant})
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return qs
}

// Query is one expression of a dashboard.
type Query struct {
	Panel    string
	Expr     string
	Instant  bool
	Variable bool // a label_values(...) variable query, not PromQL
}

// Dashboards are the dashboards corral ships, by file name.
func Dashboards() map[string]*Dashboard {
	return map[string]*Dashboard{
		"corral-fleet.json":     Fleet(),
		"corral-collector.json": Collector(),
	}
}

var ds = &Datasource{Type: "prometheus", UID: "${datasource}"}

func f(v float64) *float64 { return &v }

func datasourceVar() Variable {
	return Variable{
		Name: "datasource", Label: "Data source", Type: "datasource", Query: "prometheus",
		Refresh: 1, Current: map[string]any{},
	}
}

func labelVar(name, label, def string, multi bool) Variable {
	v := Variable{
		Name: name, Label: label, Type: "query", Datasource: ds,
		Query:      map[string]any{"query": def, "refId": "PrometheusVariableQueryEditor-VariableQuery", "qryType": 1},
		Definition: def, IncludeAll: multi, Multi: multi, Refresh: 2, Sort: 1,
		Current: map[string]any{},
	}
	if multi {
		// ".*" also matches collectors without the label (no team, say).
		v.AllValue = ".*"
		v.Current = map[string]any{"selected": true, "text": []string{"All"}, "value": []string{"$__all"}}
	}
	return v
}

// layout places panels left to right in rows of 24 columns, and numbers them.
type layout struct {
	panels []*Panel
	x, y   int
	rowH   int
	nextID int
}

func (l *layout) row(title string) {
	if l.x > 0 {
		l.y += l.rowH
		l.x, l.rowH = 0, 0
	}
	l.nextID++
	l.panels = append(l.panels, &Panel{ID: l.nextID, Type: "row", Title: title, GridPos: GridPos{X: 0, Y: l.y, W: 24, H: 1}, Collapsed: new(bool)})
	l.y++
}

func (l *layout) add(w, h int, p *Panel) {
	if l.x+w > 24 {
		l.y += l.rowH
		l.x, l.rowH = 0, 0
	}
	l.nextID++
	p.ID = l.nextID
	p.GridPos = GridPos{X: l.x, Y: l.y, W: w, H: h}
	if p.Datasource == nil {
		p.Datasource = ds
	}
	for i := range p.Targets {
		p.Targets[i].RefID = string(rune('A' + i))
		p.Targets[i].Datasource = ds
	}
	if p.FieldConfig == nil {
		p.FieldConfig = &FieldConfig{}
	}
	if p.FieldConfig.Overrides == nil {
		p.FieldConfig.Overrides = []Override{}
	}
	l.panels = append(l.panels, p)
	l.x += w
	if h > l.rowH {
		l.rowH = h
	}
}

func rangeQ(expr, legend string) Target { return Target{Expr: expr, LegendFormat: legend, Range: true} }

func instantQ(expr, legend string) Target {
	return Target{Expr: expr, LegendFormat: legend, Instant: true}
}

func tableQ(expr string) Target { return Target{Expr: expr, Instant: true, Format: "table"} }

// statusColours are the UI's colours per status, so Grafana and corral agree.
var statusColours = map[string]string{
	"online": "green", "slow": "yellow", "incomplete": "orange", "stale": "orange",
	"paused": "blue", "waiting": "purple", "error": "red", "offline": "dark-red",
	"unknown": "text", "archived": "text",
}

var statusOrder = []string{"online", "slow", "incomplete", "stale", "error", "offline", "paused", "waiting", "unknown"}

func statusOverrides() []Override {
	var os []Override
	for _, s := range statusOrder {
		os = append(os, Override{
			Matcher:    map[string]any{"id": "byName", "options": s},
			Properties: []map[string]any{{"id": "color", "value": map[string]any{"mode": "fixed", "fixedColor": statusColours[s]}}},
		})
	}
	return os
}

func timeseries(title, desc, unit string, targets ...Target) *Panel {
	return &Panel{
		Type: "timeseries", Title: title, Description: desc, Targets: targets,
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: unit, Custom: map[string]any{"lineWidth": 1, "fillOpacity": 10, "showPoints": "never"}}},
		Options: map[string]any{
			"legend":  map[string]any{"displayMode": "table", "placement": "bottom", "calcs": []string{"lastNotNull", "max"}, "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"},
		},
	}
}

func stat(title, desc, unit string, th *Thresholds, t Target) *Panel {
	return &Panel{
		Type: "stat", Title: title, Description: desc, Targets: []Target{t},
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{Unit: unit, Thresholds: th, Color: map[string]any{"mode": "thresholds"}}},
		Options: map[string]any{
			"reduceOptions": map[string]any{"calcs": []string{"lastNotNull"}, "fields": "", "values": false},
			"colorMode":     "background", "graphMode": "none", "textMode": "value_and_name", "justifyMode": "auto",
		},
	}
}

func steps(base string, more ...any) *Thresholds {
	th := &Thresholds{Mode: "absolute", Steps: []Step{{Color: base}}}
	for i := 0; i+1 < len(more); i += 2 {
		th.Steps = append(th.Steps, Step{Value: f(more[i].(float64)), Color: more[i+1].(string)})
	}
	return th
}

func table(title, desc string, t Target, hide ...string) *Panel {
	exclude := map[string]any{"Time": true, "__name__": true}
	for _, h := range hide {
		exclude[h] = true
	}
	return &Panel{
		Type: "table", Title: title, Description: desc, Targets: []Target{t},
		FieldConfig: &FieldConfig{Defaults: FieldDefaults{
			Custom: map[string]any{"align": "auto", "filterable": true},
			Links: []DataLink{{
				Title: "Collector detail",
				URL:   "/d/corral-collector/corral-collector?var-datasource=${datasource}&var-job=${__data.fields.job}&var-collector=${__data.fields.collector}&${__url_time_range}",
			}},
		}},
		Options:         map[string]any{"showHeader": true, "cellHeight": "sm", "footer": map[string]any{"show": false}, "sortBy": []map[string]any{{"displayName": "collector", "desc": false}}},
		Transformations: []map[string]any{{"id": "organize", "options": map[string]any{"excludeByName": exclude}}},
	}
}
