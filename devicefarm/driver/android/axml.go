package android

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Android binary XML (frameworks/base/libs/androidfw ResourceTypes.h) chunk types.
const (
	resXMLType          = 0x0003
	resStringPoolType   = 0x0001
	resXMLResourceMap   = 0x0180
	resXMLStartElement  = 0x0102
	utf8Flag            = 1 << 8
	typeString          = 0x03
	typeIntDec          = 0x10
	typeIntHex          = 0x11
	attrVersionCodeID   = 0x0101021b // android:versionCode
	attrVersionNameID   = 0x0101021c // android:versionName
	noEntry             = 0xffffffff
	maxManifestXMLBytes = 8 << 20
)

// manifestInfo is what Install needs from AndroidManifest.xml.
type manifestInfo struct {
	Package     string
	VersionName string
	VersionCode int64
}

var errAXML = errors.New("malformed binary AndroidManifest.xml")

// parseAXMLManifest reads package, versionName and versionCode from the <manifest> element
// of a compiled (binary) AndroidManifest.xml. Attribute names are matched by string and, for
// obfuscated names, by resource id through the resource map.
func parseAXMLManifest(b []byte) (manifestInfo, error) {
	var mi manifestInfo
	if len(b) < 8 || binary.LittleEndian.Uint16(b) != resXMLType {
		return mi, fmt.Errorf("%w: not a binary XML file", errAXML)
	}
	var pool []string
	var resIDs []uint32
	off := int(binary.LittleEndian.Uint16(b[2:]))
	for off+8 <= len(b) {
		typ := binary.LittleEndian.Uint16(b[off:])
		hsize := int(binary.LittleEndian.Uint16(b[off+2:]))
		size := int(binary.LittleEndian.Uint32(b[off+4:]))
		if size < 8 || off+size > len(b) || hsize > size {
			return mi, fmt.Errorf("%w: chunk at %d has size %d", errAXML, off, size)
		}
		chunk := b[off : off+size]
		switch typ {
		case resStringPoolType:
			var err error
			if pool, err = parseStringPool(chunk); err != nil {
				return mi, err
			}
		case resXMLResourceMap:
			for i := hsize; i+4 <= size; i += 4 {
				resIDs = append(resIDs, binary.LittleEndian.Uint32(chunk[i:]))
			}
		case resXMLStartElement:
			return manifestAttrs(chunk, hsize, pool, resIDs)
		}
		off += size
	}
	return mi, fmt.Errorf("%w: no <manifest> element", errAXML)
}

func parseStringPool(c []byte) ([]string, error) {
	if len(c) < 28 {
		return nil, fmt.Errorf("%w: short string pool", errAXML)
	}
	count := int(binary.LittleEndian.Uint32(c[8:]))
	flags := binary.LittleEndian.Uint32(c[16:])
	start := int(binary.LittleEndian.Uint32(c[20:]))
	hsize := int(binary.LittleEndian.Uint16(c[2:]))
	if count > len(c)/4 || hsize+4*count > len(c) || start > len(c) {
		return nil, fmt.Errorf("%w: string pool counts", errAXML)
	}
	out := make([]string, count)
	for i := range out {
		p := start + int(binary.LittleEndian.Uint32(c[hsize+4*i:]))
		if p >= len(c) {
			return nil, fmt.Errorf("%w: string %d out of range", errAXML, i)
		}
		var err error
		if flags&utf8Flag != 0 {
			out[i], err = utf8At(c, p)
		} else {
			out[i], err = utf16At(c, p)
		}
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

func utf8At(c []byte, p int) (string, error) {
	lenAt := func(p int) (int, int) {
		if p >= len(c) {
			return 0, -1
		}
		if c[p]&0x80 != 0 {
			if p+1 >= len(c) {
				return 0, -1
			}
			return int(c[p]&0x7f)<<8 | int(c[p+1]), p + 2
		}
		return int(c[p]), p + 1
	}
	_, p = lenAt(p) // length in UTF-16 units, then in bytes
	if p < 0 {
		return "", errAXML
	}
	n, p := lenAt(p)
	if p < 0 || p+n > len(c) {
		return "", fmt.Errorf("%w: utf-8 string overruns pool", errAXML)
	}
	return string(c[p : p+n]), nil
}

func utf16At(c []byte, p int) (string, error) {
	if p+2 > len(c) {
		return "", errAXML
	}
	n := int(binary.LittleEndian.Uint16(c[p:]))
	p += 2
	if n&0x8000 != 0 {
		if p+2 > len(c) {
			return "", errAXML
		}
		n = (n&0x7fff)<<16 | int(binary.LittleEndian.Uint16(c[p:]))
		p += 2
	}
	if p+2*n > len(c) {
		return "", fmt.Errorf("%w: utf-16 string overruns pool", errAXML)
	}
	u := make([]uint16, n)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(c[p+2*i:])
	}
	return string(utf16.Decode(u)), nil
}

func manifestAttrs(c []byte, hsize int, pool []string, resIDs []uint32) (manifestInfo, error) {
	var mi manifestInfo
	str := func(i uint32) string {
		if int(i) < len(pool) {
			return pool[i]
		}
		return ""
	}
	if hsize+20 > len(c) {
		return mi, fmt.Errorf("%w: short element", errAXML)
	}
	ext := c[hsize:]
	if str(binary.LittleEndian.Uint32(ext[4:])) != "manifest" {
		return mi, fmt.Errorf("%w: first element is not <manifest>", errAXML)
	}
	attrStart := int(binary.LittleEndian.Uint16(ext[8:]))
	attrSize := int(binary.LittleEndian.Uint16(ext[10:]))
	attrCount := int(binary.LittleEndian.Uint16(ext[12:]))
	if attrSize < 20 || hsize+attrStart+attrSize*attrCount > len(c) {
		return mi, fmt.Errorf("%w: attributes overrun element", errAXML)
	}
	for i := 0; i < attrCount; i++ {
		a := c[hsize+attrStart+i*attrSize:]
		nameIdx := binary.LittleEndian.Uint32(a[4:])
		raw := binary.LittleEndian.Uint32(a[8:])
		dtype := a[15]
		data := binary.LittleEndian.Uint32(a[16:])
		name := str(nameIdx)
		var id uint32
		if int(nameIdx) < len(resIDs) {
			id = resIDs[nameIdx]
		}
		value := ""
		if raw != noEntry {
			value = str(raw)
		} else if dtype == typeString {
			value = str(data)
		}
		switch {
		case name == "package":
			mi.Package = value
		case name == "versionName" || id == attrVersionNameID:
			mi.VersionName = value
		case name == "versionCode" || id == attrVersionCodeID:
			if dtype == typeIntDec || dtype == typeIntHex {
				mi.VersionCode = int64(data)
			}
		}
	}
	if mi.Package == "" {
		return mi, fmt.Errorf("%w: <manifest> has no package attribute", errAXML)
	}
	return mi, nil
}
