package mobile

import (
	"go/ast"
	"go/parser"
	"go/token"
	"strings"
	"testing"
	"time"

	"github.com/fleetlens/fleetlens/sdk-hooks/internal/otlptest"
	sc "github.com/fleetlens/fleetlens/sdk-hooks/semconv"
)

// TestBindableAPI checks every exported signature and struct field against the types
// gomobile bind supports, so a change that would break `make sdk-aar` fails here first.
func TestBindableAPI(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "mobile.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	structs := map[string]bool{}
	for _, d := range f.Decls {
		if g, ok := d.(*ast.GenDecl); ok {
			for _, s := range g.Specs {
				if ts, ok := s.(*ast.TypeSpec); ok && ts.Name.IsExported() {
					structs[ts.Name.Name] = true
				}
			}
		}
	}
	basic := map[string]bool{"string": true, "bool": true, "int": true, "int8": true, "int16": true, "int32": true,
		"int64": true, "float32": true, "float64": true, "error": true, "byte": true}
	ok := func(e ast.Expr) bool {
		switch x := e.(type) {
		case *ast.Ident:
			return basic[x.Name] // structs cross only by pointer
		case *ast.StarExpr:
			id, isID := x.X.(*ast.Ident)
			return isID && structs[id.Name]
		case *ast.ArrayType:
			id, isID := x.Elt.(*ast.Ident)
			return x.Len == nil && isID && id.Name == "byte"
		}
		return false
	}
	check := func(where string, fl *ast.FieldList) {
		if fl == nil {
			return
		}
		for _, fd := range fl.List {
			if !ok(fd.Type) {
				t.Errorf("%s: type %s is not bindable by gomobile", where, types(fset, fd.Type))
			}
		}
	}
	for _, d := range f.Decls {
		switch x := d.(type) {
		case *ast.FuncDecl:
			if !x.Name.IsExported() {
				continue
			}
			if x.Recv != nil {
				if id, isStar := x.Recv.List[0].Type.(*ast.StarExpr); !isStar || !id.X.(*ast.Ident).IsExported() {
					continue
				}
			}
			check(x.Name.Name+" params", x.Type.Params)
			check(x.Name.Name+" results", x.Type.Results)
			if r := x.Type.Results; r != nil && r.NumFields() > 2 {
				t.Errorf("%s: more than two results", x.Name.Name)
			}
			if r := x.Type.Results; r != nil && r.NumFields() == 2 {
				if id, _ := r.List[len(r.List)-1].Type.(*ast.Ident); id == nil || id.Name != "error" {
					t.Errorf("%s: a second result must be error", x.Name.Name)
				}
			}
		case *ast.GenDecl:
			for _, s := range x.Specs {
				ts, isType := s.(*ast.TypeSpec)
				if !isType || !ts.Name.IsExported() {
					continue
				}
				if st, isStruct := ts.Type.(*ast.StructType); isStruct {
					for _, fd := range st.Fields.List {
						if len(fd.Names) > 0 && fd.Names[0].IsExported() {
							check(ts.Name.Name+"."+fd.Names[0].Name, &ast.FieldList{List: []*ast.Field{fd}})
						}
					}
				}
			}
		}
	}
}

func types(fset *token.FileSet, e ast.Expr) string {
	var b strings.Builder
	ast.Fprint(&b, fset, e, nil)
	return strings.Fields(b.String())[0]
}

// TestFacadeEndToEnd drives the facade the way a Kotlin app would, against a real receiver.
func TestFacadeEndToEnd(t *testing.T) {
	rcv := otlptest.Start(t)
	if _, err := Start(nil); err == nil {
		t.Fatal("nil config accepted")
	}
	bad := NewConfig()
	bad.ServiceName = "x"
	if _, err := Start(bad); err == nil || !strings.Contains(err.Error(), "Release") {
		t.Fatalf("missing release: %v", err)
	}
	cfg := NewConfig()
	cfg.ServiceName, cfg.Release, cfg.Endpoint, cfg.QueueDir = "com.example.shop", "2.3.0", rcv.URL(), t.TempDir()
	cfg.Platform, cfg.Model, cfg.OSVersion, cfg.RAMMB, cfg.CPUCores, cfg.CPUMaxMHz = "iOS", "iPhone8,1", "15.8", 2048, 2, 1850
	cfg.AuthToken = "tok"
	c, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if c.DeviceTier() != "low" {
		t.Fatalf("iPhone 6s tier %s", c.DeviceTier())
	}
	c.SetNetwork("cell", "lte", "T-Mobile", "310", "260")
	now := time.Now().UnixMilli()
	c.AppStarted("WARM", now-2500, now)
	r := NewRequest()
	r.Method, r.URL, r.StartUnixMs, r.EndUnixMs, r.StatusCode, r.Source = "GET", "https://api.example.com/feed?u=1", now-800, now, 200, "urlsession"
	r.TTFBMs, r.DownloadMs, r.ResponseBytes, r.DNSMs = 700, 100, 48000, -3 // negative phase is clamped
	c.RecordRequest(r)
	c.RecordRequest(nil)
	c.FrameRendered(-1)
	c.FrameStats(100, 5, 1)
	if c.NetworkClass() != "3g" {
		t.Fatalf("network class %s after a 700 ms TTFB", c.NetworkClass())
	}
	if err := c.Shutdown(3000); err != nil {
		t.Fatal(err)
	}
	if err := otlptest.Wait(3*time.Second, func() bool { return len(rcv.Spans()) == 2 }); err != nil {
		t.Fatalf("%d spans", len(rcv.Spans()))
	}
	for _, sp := range rcv.Spans() {
		if sp.Resource[sc.DeviceModelIdentifier] != "iPhone8,1" || sp.Resource[sc.OSName] != "iOS" {
			t.Fatalf("resource %v", sp.Resource)
		}
		if sp.Name == sc.SpanAppStart && otlptest.Attr(sp.Attributes, sc.AppStartExcessive) != "true" {
			t.Errorf("a 2.5 s warm start is excessive")
		}
	}
}
