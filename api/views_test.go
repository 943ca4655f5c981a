package api

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/corral-dev/corral/api/wire"
	"github.com/corral-dev/corral/control"
)

// TestUnregisterRequest: what the API decodes of an unregister body is what
// the lifecycle takes.
func TestUnregisterRequest(t *testing.T) {
	var want control.UnregisterRequest
	fill(reflect.ValueOf(&want).Elem())
	b, _ := json.Marshal(want)
	var body wire.UnregisterRequest
	if err := strictJSON(b, &body); err != nil {
		t.Fatal(err)
	}
	if got := unregisterRequest(want.Collector, body); !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

var rawMessageType = reflect.TypeOf(json.RawMessage(nil))

// fill sets every field of v, recursively, to a value that is not zero.
func fill(v reflect.Value) {
	switch {
	case v.Type() == rawMessageType:
		v.SetBytes([]byte(`{"k":1}`))
		return
	case v.Type() == reflect.TypeOf(time.Time{}):
		v.Set(reflect.ValueOf(time.Date(2026, 1, 2, 3, 4, 5, 6e6, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i))
			}
		}
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem())
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i))
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k)
		fill(e)
		v.SetMapIndex(k, e)
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(0.5)
	default:
		panic("fill: no value for " + v.Type().String())
	}
}
