package exporter

import (
	"fmt"
	"strings"
	"time"
)

// Schedule tells whether a collector is meant to be active at a moment. Outside its
// active time the collector is in state waiting and expects no items.
type Schedule interface {
	Active(t time.Time) bool
}

// WeeklySchedule is active on the given weekdays between From and To (local times of
// Location, To exclusive). When To is before From the window spans midnight.
type WeeklySchedule struct {
	Days     [7]bool // indexed by time.Weekday
	From, To time.Duration
	Location *time.Location
}

// Active implements Schedule.
func (s *WeeklySchedule) Active(t time.Time) bool {
	loc := s.Location
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	y, m, d := t.Date()
	midnight := time.Date(y, m, d, 0, 0, 0, 0, loc)
	of := t.Sub(midnight)
	if s.From <= s.To {
		return s.Days[t.Weekday()] && of >= s.From && of < s.To
	}
	// Window over midnight: the evening part belongs to today, the morning part to yesterday.
	if of >= s.From {
		return s.Days[t.Weekday()]
	}
	if of < s.To {
		return s.Days[(t.Weekday()+6)%7]
	}
	return false
}

// ScheduleConfig is the YAML form of a WeeklySchedule.
type ScheduleConfig struct {
	Timezone string   `yaml:"timezone" json:"timezone,omitempty"`
	Days     []string `yaml:"days" json:"days,omitempty"`
	From     string   `yaml:"from" json:"from"`
	To       string   `yaml:"to" json:"to"`
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// Build validates the config and returns the schedule. Days default to every day,
// the timezone to UTC. Errors name the field under the given prefix.
func (c ScheduleConfig) Build(prefix string) (*WeeklySchedule, error) {
	s := &WeeklySchedule{Location: time.UTC}
	if c.Timezone != "" {
		loc, err := time.LoadLocation(c.Timezone)
		if err != nil {
			return nil, fmt.Errorf("%s.timezone: unknown time zone %q (use an IANA name such as America/New_York)", prefix, c.Timezone)
		}
		s.Location = loc
	}
	if len(c.Days) == 0 {
		for i := range s.Days {
			s.Days[i] = true
		}
	}
	for _, d := range c.Days {
		wd, ok := weekdays[strings.ToLower(strings.TrimSpace(d))[:min(3, len(strings.TrimSpace(d)))]]
		if !ok {
			return nil, fmt.Errorf("%s.days: unknown day %q (use mon, tue, wed, thu, fri, sat, sun)", prefix, d)
		}
		s.Days[wd] = true
	}
	var err error
	if s.From, err = parseClock(c.From); err != nil {
		return nil, fmt.Errorf("%s.from: %w", prefix, err)
	}
	if s.To, err = parseClock(c.To); err != nil {
		return nil, fmt.Errorf("%s.to: %w", prefix, err)
	}
	if s.From == s.To {
		return nil, fmt.Errorf("%s: from and to are both %s; the window would be empty", prefix, c.From)
	}
	return s, nil
}

func parseClock(v string) (time.Duration, error) {
	if v == "24:00" {
		return 24 * time.Hour, nil
	}
	t, err := time.Parse("15:04", v)
	if err != nil {
		return 0, fmt.Errorf("%q is not a time of day HH:MM", v)
	}
	return time.Duration(t.Hour())*time.Hour + time.Duration(t.Minute())*time.Minute, nil
}
