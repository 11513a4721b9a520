// Package config loads component configuration the one way every fleetlens daemon does it:
// defaults (the value passed in), then a YAML file, then FLEETLENS_* environment variables,
// then Validate(). YAML is strict (unknown fields are errors) and errors name file:line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Validator is implemented by configs that can check themselves after loading.
type Validator interface{ Validate() error }

// Load fills dst (a pointer to a struct already holding defaults) from the YAML file at path
// (skipped when path is empty), then from environment variables named by `env:"NAME"` struct
// tags, then calls dst.Validate() if it has one.
func Load(path string, dst any) error {
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("config %s: %w", path, err)
		}
		if err := Decode(path, raw, dst); err != nil {
			return err
		}
	}
	if err := ApplyEnv(dst, os.LookupEnv); err != nil {
		return err
	}
	if v, ok := dst.(Validator); ok {
		if err := v.Validate(); err != nil {
			if path != "" {
				return fmt.Errorf("config %s: %w", path, err)
			}
			return fmt.Errorf("config: %w", err)
		}
	}
	return nil
}

// Decode parses YAML strictly into dst; name labels errors (usually the file path).
func Decode(name string, raw []byte, dst any) error {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	err := dec.Decode(dst)
	var te *yaml.TypeError
	switch {
	case err == nil || errors.Is(err, io.EOF): // an empty file means "no settings"
		return nil
	case errors.As(err, &te):
		msgs := make([]string, len(te.Errors))
		for i, m := range te.Errors {
			msgs[i] = name + ": " + m
		}
		return errors.New(strings.Join(msgs, "\n"))
	default:
		return fmt.Errorf("%s: %s", name, strings.TrimPrefix(err.Error(), "yaml: "))
	}
}

// ApplyEnv sets every field tagged `env:"NAME"` (recursing into nested structs) whose
// variable is set. Supported kinds: string, bool, ints, floats, time.Duration, []string
// (comma-separated).
func ApplyEnv(dst any, lookup func(string) (string, bool)) error {
	v := reflect.ValueOf(dst)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("config: ApplyEnv needs a pointer to a struct, got %T", dst)
	}
	return applyEnv(v.Elem(), lookup)
}

var durationType = reflect.TypeOf(time.Duration(0))

func applyEnv(v reflect.Value, lookup func(string) (string, bool)) error {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() {
			continue
		}
		name := f.Tag.Get("env")
		if name == "" {
			if fv.Kind() == reflect.Struct && f.Type != reflect.TypeOf(time.Time{}) {
				if err := applyEnv(fv, lookup); err != nil {
					return err
				}
			}
			continue
		}
		raw, ok := lookup(name)
		if !ok {
			continue
		}
		if err := setFromString(fv, raw); err != nil {
			return fmt.Errorf("environment variable %s=%q: %w", name, raw, err)
		}
	}
	return nil
}

func setFromString(fv reflect.Value, raw string) error {
	if fv.Type() == durationType {
		d, err := time.ParseDuration(raw)
		if err != nil {
			return err
		}
		fv.SetInt(int64(d))
		return nil
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return err
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, fv.Type().Bits())
		if err != nil {
			return err
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, fv.Type().Bits())
		if err != nil {
			return err
		}
		fv.SetUint(n)
	case reflect.Float32, reflect.Float64:
		x, err := strconv.ParseFloat(raw, fv.Type().Bits())
		if err != nil {
			return err
		}
		fv.SetFloat(x)
	case reflect.Slice:
		if fv.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("unsupported list type %s", fv.Type())
		}
		var parts []string
		for _, p := range strings.Split(raw, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		fv.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("unsupported field type %s", fv.Type())
	}
	return nil
}
