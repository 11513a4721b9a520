package usbmux

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"time"
)

// PKI is the certificate set behind every pair record of one fleet. Real pairing makes a root
// CA and host certificate per host and signs a device certificate per device; generating three
// RSA keys per device would make a 200-device fleet take minutes to start, so one fleet shares
// one set (devices differ in UDID, HostID-bound pair record fields and WiFi MAC, not keys).
type PKI struct {
	RootCertPEM, RootKeyPEM     []byte
	HostCertPEM, HostKeyPEM     []byte
	DeviceCertPEM, DeviceKeyPEM []byte
	DevicePublicKeyPEM          []byte // lockdown's DevicePublicKey: PKCS#1 "RSA PUBLIC KEY"
	deviceTLS                   tls.Certificate
	hostCert                    *x509.Certificate
	rootCert                    *x509.Certificate
}

// NewPKI generates a root CA, a host certificate and a device certificate, all RSA-2048 signed
// with SHA-256 (iOS >= 10 rejects SHA-1 on the lockdown TLS session).
func NewPKI() (*PKI, error) {
	rootKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("pki: root key: %w", err)
	}
	now := time.Now().Add(-time.Hour)
	rootTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(0),
		NotBefore:             now,
		NotAfter:              now.AddDate(10, 0, 0),
		SignatureAlgorithm:    x509.SHA256WithRSA,
		BasicConstraintsValid: true,
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		SubjectKeyId:          ski(&rootKey.PublicKey),
	}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootTmpl, rootTmpl, &rootKey.PublicKey, rootKey)
	if err != nil {
		return nil, fmt.Errorf("pki: root certificate: %w", err)
	}
	rootCert, err := x509.ParseCertificate(rootDER)
	if err != nil {
		return nil, fmt.Errorf("pki: parse root certificate: %w", err)
	}
	leaf := func() (*rsa.PrivateKey, []byte, error) {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, nil, err
		}
		t := &x509.Certificate{
			SerialNumber:          big.NewInt(0),
			NotBefore:             now,
			NotAfter:              now.AddDate(10, 0, 0),
			SignatureAlgorithm:    x509.SHA256WithRSA,
			BasicConstraintsValid: true,
			KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
			SubjectKeyId:          ski(&k.PublicKey),
		}
		der, err := x509.CreateCertificate(rand.Reader, t, rootCert, &k.PublicKey, rootKey)
		return k, der, err
	}
	hostKey, hostDER, err := leaf()
	if err != nil {
		return nil, fmt.Errorf("pki: host certificate: %w", err)
	}
	devKey, devDER, err := leaf()
	if err != nil {
		return nil, fmt.Errorf("pki: device certificate: %w", err)
	}
	p := &PKI{
		RootCertPEM:        certPEM(rootDER),
		RootKeyPEM:         keyPEM(rootKey),
		HostCertPEM:        certPEM(hostDER),
		HostKeyPEM:         keyPEM(hostKey),
		DeviceCertPEM:      certPEM(devDER),
		DeviceKeyPEM:       keyPEM(devKey),
		DevicePublicKeyPEM: pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&devKey.PublicKey)}),
		rootCert:           rootCert,
	}
	if p.hostCert, err = x509.ParseCertificate(hostDER); err != nil {
		return nil, fmt.Errorf("pki: parse host certificate: %w", err)
	}
	if p.deviceTLS, err = tls.X509KeyPair(p.DeviceCertPEM, p.DeviceKeyPEM); err != nil {
		return nil, fmt.Errorf("pki: device key pair: %w", err)
	}
	return p, nil
}

// serverTLS is the lockdownd side of a session: the device certificate, TLS 1.2 at least, and a
// client certificate requested (go-ios presents the host certificate, libimobiledevice the
// root) and checked against this fleet's pair record when one is offered.
func (p *PKI) serverTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.deviceTLS},
		MinVersion:   tls.VersionTLS12,
		ClientAuth:   tls.RequestClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return nil
			}
			c, err := x509.ParseCertificate(raw[0])
			if err != nil {
				return fmt.Errorf("lockdown: bad client certificate: %w", err)
			}
			if c.Equal(p.rootCert) || c.Equal(p.hostCert) || c.CheckSignatureFrom(p.rootCert) == nil {
				return nil
			}
			return fmt.Errorf("lockdown: client certificate is not from this pair record")
		},
	}
}

func ski(pub *rsa.PublicKey) []byte {
	s := sha1.Sum(x509.MarshalPKCS1PublicKey(pub))
	return s[:]
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func keyPEM(k *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
}
