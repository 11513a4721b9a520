package android

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"
)

// axmlAttr is one attribute for the test encoder: name, raw string (or -1) and typed value.
type axmlAttr struct {
	name  string
	raw   string
	dtype byte
	data  uint32
}

// encodeAXML writes a compiled-XML document with one <manifest> element, the layout aapt2
// produces: XML header, string pool, resource map, start namespace, start element.
func encodeAXML(utf8 bool, attrs []axmlAttr, resMap []uint32, element string) []byte {
	strs := []string{}
	idx := map[string]uint32{}
	add := func(s string) uint32 {
		if i, ok := idx[s]; ok && s != "" {
			return i
		}
		strs = append(strs, s)
		idx[s] = uint32(len(strs) - 1)
		return idx[s]
	}
	// Attribute names first so the resource map lines up with them.
	nameIdx := make([]uint32, len(attrs))
	for i, a := range attrs {
		strs = append(strs, a.name)
		nameIdx[i] = uint32(len(strs) - 1)
	}
	elem := add(element)
	ns := add("http://schemas.android.com/apk/res/android")
	rawIdx := make([]uint32, len(attrs))
	for i, a := range attrs {
		rawIdx[i] = noEntry
		if a.raw != "" {
			rawIdx[i] = add(a.raw)
		}
	}
	le := binary.LittleEndian
	var data bytes.Buffer
	offs := make([]uint32, len(strs))
	for i, s := range strs {
		offs[i] = uint32(data.Len())
		if utf8 {
			data.WriteByte(byte(len([]rune(s))))
			data.WriteByte(byte(len(s)))
			data.WriteString(s)
			data.WriteByte(0)
		} else {
			u := utf16.Encode([]rune(s))
			binary.Write(&data, le, uint16(len(u)))
			binary.Write(&data, le, u)
			binary.Write(&data, le, uint16(0))
		}
	}
	for data.Len()%4 != 0 {
		data.WriteByte(0)
	}
	var pool bytes.Buffer
	flags := uint32(0)
	if utf8 {
		flags = utf8Flag
	}
	hdr := 28
	binary.Write(&pool, le, []uint16{resStringPoolType, uint16(hdr)})
	binary.Write(&pool, le, []uint32{uint32(hdr + 4*len(strs) + data.Len()), uint32(len(strs)), 0, flags, uint32(hdr + 4*len(strs)), 0})
	binary.Write(&pool, le, offs)
	pool.Write(data.Bytes())
	var rm bytes.Buffer
	binary.Write(&rm, le, []uint16{resXMLResourceMap, 8})
	binary.Write(&rm, le, uint32(8+4*len(resMap)))
	binary.Write(&rm, le, resMap)
	var el bytes.Buffer
	binary.Write(&el, le, []uint16{resXMLStartElement, 16})
	binary.Write(&el, le, []uint32{uint32(16 + 20 + 20*len(attrs)), 1, noEntry})
	binary.Write(&el, le, []uint32{noEntry, elem})
	binary.Write(&el, le, []uint16{20, 20, uint16(len(attrs)), 0, 0, 0})
	for i, a := range attrs {
		binary.Write(&el, le, []uint32{ns, nameIdx[i], rawIdx[i]})
		binary.Write(&el, le, uint16(8))
		el.WriteByte(0)
		el.WriteByte(a.dtype)
		binary.Write(&el, le, a.data)
	}
	var doc bytes.Buffer
	binary.Write(&doc, le, []uint16{resXMLType, 8})
	binary.Write(&doc, le, uint32(8+pool.Len()+rm.Len()+el.Len()))
	doc.Write(pool.Bytes())
	doc.Write(rm.Bytes())
	doc.Write(el.Bytes())
	return doc.Bytes()
}

func TestParseAXMLManifest(t *testing.T) {
	std := []axmlAttr{
		{name: "versionCode", dtype: typeIntDec, data: 4012},
		{name: "versionName", raw: "4.0.12", dtype: typeString},
		{name: "package", raw: "com.example.réel", dtype: typeString},
	}
	obfuscated := []axmlAttr{
		{name: "", dtype: typeIntHex, data: 77},
		{name: "", raw: "", dtype: typeString, data: 0}, // typed string pointing at index 0 is set below
		{name: "package", raw: "com.obf.app", dtype: typeString},
	}
	cases := []struct {
		name    string
		doc     []byte
		want    manifestInfo
		wantErr bool
	}{
		{"utf8", encodeAXML(true, std, []uint32{attrVersionCodeID, attrVersionNameID}, "manifest"), manifestInfo{"com.example.réel", "4.0.12", 4012}, false},
		{"utf16", encodeAXML(false, std, []uint32{attrVersionCodeID, attrVersionNameID}, "manifest"), manifestInfo{"com.example.réel", "4.0.12", 4012}, false},
		{"obfuscated names via resource map", encodeAXML(true, obfuscated, []uint32{attrVersionCodeID, attrVersionNameID}, "manifest"), manifestInfo{"com.obf.app", "", 77}, false},
		{"first element not manifest", encodeAXML(true, std, nil, "application"), manifestInfo{}, true},
		{"no package", encodeAXML(true, std[:2], nil, "manifest"), manifestInfo{}, true},
		{"plain text xml", []byte(`<manifest package="x"/>`), manifestInfo{}, true},
		{"empty", nil, manifestInfo{}, true},
	}
	good := encodeAXML(true, std, nil, "manifest")
	for _, cut := range []int{9, 40, len(good) / 2, len(good) - 3} {
		cases = append(cases, struct {
			name    string
			doc     []byte
			want    manifestInfo
			wantErr bool
		}{"truncated", good[:cut], manifestInfo{}, true})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := parseAXMLManifest(c.doc)
			if c.wantErr {
				if err == nil || !errors.Is(err, errAXML) {
					t.Fatalf("got %+v, %v; want an errAXML", got, err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %+v, %v; want %+v", got, err, c.want)
			}
		})
	}
}

// TestApkIdentityRealLayout: an APK with only a compiled manifest (as built by aapt2).
func TestApkIdentityRealLayout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "real.apk")
	f, _ := os.Create(p)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("AndroidManifest.xml")
	w.Write(encodeAXML(false, []axmlAttr{{name: "package", raw: "org.real.app"}, {name: "versionName", raw: "7.1"}}, nil, "manifest"))
	w, _ = zw.Create("classes.dex")
	w.Write([]byte("dex\n035\x00"))
	zw.Close()
	f.Close()
	app, err := apkIdentity(p)
	if err != nil || app.ID != "org.real.app" || app.Version != "7.1" {
		t.Fatalf("apkIdentity = %+v, %v", app, err)
	}
}
