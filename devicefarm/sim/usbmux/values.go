package usbmux

import (
	"crypto/sha256"
	"strings"
	"time"
)

// publicKeys are the values lockdownd answers before a session exists (enough for a host to
// recognise the device and pair with it).
var publicKeys = map[string]bool{
	"ProductVersion": true, "ProductType": true, "BuildVersion": true, "DeviceClass": true,
	"DeviceName": true, "UniqueDeviceID": true, "HardwareModel": true, "ProductName": true,
	"DevicePublicKey": true, "WiFiAddress": true, "ActivationState": true, "ProtocolVersion": true,
	"CPUArchitecture": true, "DeviceColor": true, "TimeIntervalSince1970": true,
}

// getValue answers GetValue. The error names are lockdownd's.
func (d *Device) getValue(domain, key string, inSession bool) (any, string) {
	vals := d.domainValues(domain)
	if vals == nil {
		return nil, "MissingValue"
	}
	if !inSession && domain != "" {
		return nil, "MissingValue"
	}
	d.mu.Lock()
	for k, v := range d.setVals {
		dom, name, _ := strings.Cut(k, "\x00")
		if dom == domain {
			vals[name] = v
		}
	}
	d.mu.Unlock()
	if key == "" {
		if !inSession {
			pub := map[string]any{}
			for k, v := range vals {
				if publicKeys[k] {
					pub[k] = v
				}
			}
			return pub, ""
		}
		return vals, ""
	}
	v, ok := vals[key]
	if !ok || (!inSession && domain == "" && !publicKeys[key]) {
		return nil, "MissingValue"
	}
	return v, ""
}

func (d *Device) domainValues(domain string) map[string]any {
	switch domain {
	case "":
		return d.mainValues()
	case "com.apple.mobile.battery":
		level, charging, _ := d.battery()
		return map[string]any{
			"BatteryCurrentCapacity": uint64(level),
			"BatteryIsCharging":      charging && level < 100,
			"ExternalChargeCapable":  charging,
			"ExternalConnected":      charging,
			"FullyCharged":           charging && level >= 100,
			"GasGaugeCapability":     true,
			"HasBattery":             true,
		}
	case "com.apple.disk_usage", "com.apple.disk_usage.factory":
		free := d.freeBytes()
		system := uint64(12_000_000_000)
		return map[string]any{
			"TotalDiskCapacity":    d.storage,
			"TotalDataCapacity":    d.storage - system,
			"TotalDataAvailable":   free,
			"AmountDataAvailable":  free,
			"AmountDataReserved":   uint64(200_000_000),
			"TotalSystemCapacity":  system,
			"TotalSystemAvailable": uint64(1_500_000_000),
			"CalculationTime":      time.Now().Add(-time.Minute).Unix(),
			"NANDInfo":             []byte{0, 0, 0, 0},
		}
	case "com.apple.international":
		return map[string]any{
			"Language": "en", "Locale": "en_US", "Keyboard": "en_US", "Uses24HourClock": false,
			"SupportedLanguages": []string{"en", "fr", "de", "ja", "es", "zh-Hans", "pt-BR"},
			"SupportedLocales":   []string{"en_US", "en_GB", "fr_FR", "de_DE", "ja_JP", "es_ES"},
		}
	case "com.apple.xcode.developerdomain":
		return map[string]any{"DeveloperStatus": "Disabled"}
	case "com.apple.mobile.wireless_lockdown":
		return map[string]any{"EnableWifiConnections": false, "EnableWifiDebugging": false}
	case "com.apple.Accessibility":
		return map[string]any{
			"VoiceOverTouchEnabledByiTunes": false, "ZoomTouchEnabledByiTunes": false,
			"AssistiveTouchEnabledByiTunes": false, "InvertDisplayEnabledByiTunes": false,
		}
	case "com.apple.mobile.software_behavior":
		return map[string]any{"Valid": false}
	case "com.apple.mobile.restriction":
		return map[string]any{"ProhibitAppInstall": false}
	case "com.apple.fairplay":
		return map[string]any{"FairPlayCertificate": []byte{}, "FairPlayDeviceType": uint64(1)}
	}
	return nil
}

func (d *Device) mainValues() map[string]any {
	m := d.inst.Model
	class, family, productName := "iPhone", []int{1}, "iPhone OS"
	if strings.HasPrefix(d.productType, "iPad") {
		class, family = "iPad", []int{1, 2}
	}
	arch := "arm64e" // A12 and later
	if strings.Contains(m.SoC, "A9") || strings.Contains(m.SoC, "A10") || strings.Contains(m.SoC, "A11") {
		arch = "arm64"
	}
	pub := d.srv.pki.DevicePublicKeyPEM
	now := time.Now()
	_, offset := now.Zone()
	imei := sha256.Sum256([]byte(d.inst.Serial))
	imeiStr := "35"
	for _, b := range imei[:13] {
		imeiStr += string('0' + b%10)
	}
	return map[string]any{
		"ActivationState":                      "Activated",
		"ActivationStateAcknowledged":          true,
		"BasebandActivationTicketVersion":      "V2",
		"BasebandCertId":                       3840149528,
		"BasebandChipID":                       1884385,
		"BasebandKeyHashInformation":           map[string]any{"AKeyStatus": 2, "SKeyHash": imei[:20], "SKeyStatus": 0},
		"BasebandMasterKeyHash":                "8CB15EE4C8002199070D9500BB8FB183B02713A5CA2A6B92DB5E75CE15536182",
		"BasebandRegionSKU":                    []byte{0x3d, 0, 0, 0},
		"BasebandSerialNumber":                 imei[20:24],
		"BasebandStatus":                       "BBInfoAvailable",
		"BasebandVersion":                      "3.02.01",
		"BluetoothAddress":                     d.btMAC,
		"BoardId":                              14,
		"BrickState":                           false,
		"BuildVersion":                         d.build,
		"CPUArchitecture":                      arch,
		"CarrierBundleInfoArray":               []any{},
		"CertID":                               2315222105,
		"ChipID":                               chipID(m.SoC),
		"ChipSerialNo":                         imei[:4],
		"DeviceClass":                          class,
		"DeviceColor":                          "1",
		"DeviceName":                           d.name,
		"DevicePublicKey":                      pub,
		"DieID":                                d.ecid,
		"EthernetAddress":                      d.wifiMAC,
		"FirmwareVersion":                      "iBoot-10151.140.19",
		"FusingStatus":                         3,
		"HardwareModel":                        m.HardwareModel,
		"HardwarePlatform":                     strings.ToLower(strings.TrimPrefix(m.SoC, "Apple ")),
		"HasSiDP":                              true,
		"HostAttached":                         true,
		"InternationalMobileEquipmentIdentity": imeiStr,
		"MLBSerialNumber":                      d.serialNo + "A1B2C",
		"MobileSubscriberCountryCode":          "310",
		"MobileSubscriberNetworkCode":          "410",
		"ModelNumber":                          "M" + d.serialNo[1:5],
		"NonVolatileRAM":                       map[string]any{"auto-boot": []byte("true"), "backlight-level": []byte("1527"), "boot-args": "", "bootdelay": []byte("0")},
		"PartitionType":                        "GUID_partition_scheme",
		"PasswordProtected":                    false,
		"PkHash":                               imei[:32],
		"ProductName":                          productName,
		"ProductType":                          d.productType,
		"ProductVersion":                       d.inst.OSVersion,
		"ProductionSOC":                        true,
		"ProtocolVersion":                      "2",
		"ProximitySensorCalibration":           []byte{0x1f, 0x2e},
		"RegionInfo":                           "LL/A",
		"SBLockdownEverRegisteredKey":          true,
		"SIMStatus":                            "kCTSIMSupportSIMStatusReady",
		"SIMTrayStatus":                        "kCTSIMSupportSIMTrayInsertedSIM",
		"SerialNumber":                         d.serialNo,
		"SoftwareBehavior":                     make([]byte, 16),
		"SoftwareBundleVersion":                "",
		"SupportedDeviceFamilies":              family,
		"TelephonyCapability":                  class == "iPhone",
		"TimeIntervalSince1970":                float64(now.UnixNano()) / 1e9,
		"TimeZone":                             "Etc/UTC",
		"TimeZoneOffsetFromUTC":                float64(offset),
		"TrustedHostAttached":                  true,
		"UniqueChipID":                         d.ecid,
		"UniqueDeviceID":                       d.inst.Serial,
		"UseRaptorCerts":                       true,
		"Uses24HourClock":                      false,
		"WiFiAddress":                          d.wifiMAC,
		"WirelessBoardSerialNumber":            d.serialNo[:8] + "WB",
		"kCTPostponementInfoPRIVersion":        "0.1.164",
		"kCTPostponementInfoServiceProvisioningState": false,
		"kCTPostponementStatus":                       "kCTPostponementStatusActivated",
	}
}

// chipID is the SoC's CHIP ID as lockdownd reports it.
func chipID(soc string) int {
	for _, c := range []struct {
		soc string
		id  int
	}{{"A9", 0x8000}, {"A10", 0x8010}, {"A11", 0x8015}, {"A12", 0x8020}, {"A13", 0x8030}, {"A14", 0x8101}, {"A15", 0x8110}, {"A16", 0x8120}, {"A18", 0x8140}, {"M1", 0x8103}} {
		if strings.Contains(soc, c.soc+" ") || strings.HasSuffix(soc, c.soc) {
			return c.id
		}
	}
	return 0x8030
}
