package tftp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Opcode is a packet's first two bytes.
type Opcode uint16

// The opcodes: RFC 1350 section 5, and OACK from RFC 2347.
const (
	OpRRQ   Opcode = 1 // read request
	OpWRQ   Opcode = 2 // write request
	OpDATA  Opcode = 3 // a block of the file
	OpACK   Opcode = 4 // a block received
	OpERROR Opcode = 5 // ends the transfer
	OpOACK  Opcode = 6 // the options the server accepts (RFC 2347)
)

// ErrorCode is an ERROR packet's code.
type ErrorCode uint16

// The error codes: RFC 1350 appendix, and 8 from RFC 2347.
const (
	ErrUndefined      ErrorCode = 0 // see the message
	ErrNotFound       ErrorCode = 1 // file not found
	ErrAccess         ErrorCode = 2 // access violation: a name out of bounds, a read-only server
	ErrDiskFull       ErrorCode = 3 // disk full or allocation exceeded: over --max-upload too
	ErrIllegal        ErrorCode = 4 // illegal TFTP operation: a malformed packet
	ErrUnknownTID     ErrorCode = 5 // a packet from a port not of this transfer
	ErrExists         ErrorCode = 6 // file already exists (not used: uploads replace)
	ErrNoUser         ErrorCode = 7 // no such user (mail mode, not supported)
	ErrOptionsRefused ErrorCode = 8 // option negotiation refused (RFC 2347)
)

// Limits.
const (
	// MaxRequest bounds a request packet. RFC 2347 says 512 octets; real
	// clients stay within it, and a bit more costs nothing.
	MaxRequest = 2048
	// MinBlockSize and MaxBlockSize are RFC 2348's bounds; 65464 is what
	// fits a UDP datagram over IPv4 with its headers.
	MinBlockSize = 8
	MaxBlockSize = 65464
	// DefaultBlockSize is RFC 1350's block.
	DefaultBlockSize = 512
	// MaxWindow is RFC 7440's bound on windowsize.
	MaxWindow = 65535
	// MaxTimeout is RFC 2349's bound on the timeout option, in seconds.
	MaxTimeout = 255
)

// The transfer modes of RFC 1350 this server speaks ("mail" it refuses).
const (
	ModeOctet    = "octet"
	ModeNetascii = "netascii"
)

// Option names (RFC 2348, 2349, 7440), lower case: they match any case.
const (
	OptBlksize    = "blksize"
	OptTimeout    = "timeout"
	OptTsize      = "tsize"
	OptWindowsize = "windowsize"
)

// ErrMalformed wraps every parse error.
var ErrMalformed = errors.New("malformed packet")

func malformed(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, a...))
}

// Option is one name and value of a request, in the order sent.
type Option struct {
	Name  string // lower case
	Value string
}

// Request is an RRQ or a WRQ.
type Request struct {
	Op       Opcode
	Filename string
	Mode     string // lower case: octet or netascii
	Options  []Option
}

// ParseRequest parses an RRQ or WRQ, strictly: opcode, then the filename,
// the mode and each option's name and value as strings each ended by a
// NUL; nothing after the last NUL; the mode octet or netascii. Unknown
// options are kept (Negotiate ignores them); a repeated one is an error.
func ParseRequest(b []byte) (Request, error) {
	var req Request
	switch {
	case len(b) > MaxRequest:
		return req, malformed("request of %d bytes, over %d", len(b), MaxRequest)
	case len(b) < 2:
		return req, malformed("%d bytes, no opcode", len(b))
	}
	req.Op = Opcode(binary.BigEndian.Uint16(b))
	if req.Op != OpRRQ && req.Op != OpWRQ {
		return req, malformed("opcode %d is not a request", req.Op)
	}
	fields, err := splitNUL(b[2:])
	if err != nil {
		return req, err
	}
	if len(fields) < 2 {
		return req, malformed("no mode")
	}
	if fields[0] == "" {
		return req, malformed("empty filename")
	}
	req.Filename = fields[0]
	req.Mode = strings.ToLower(fields[1])
	switch req.Mode {
	case ModeOctet, ModeNetascii:
	case "mail":
		return req, malformed("mail mode is not supported")
	default:
		return req, malformed("unknown mode %q", fields[1])
	}
	opts := fields[2:]
	if len(opts)%2 != 0 {
		return req, malformed("option %q has no value", opts[len(opts)-1])
	}
	seen := map[string]bool{}
	for i := 0; i < len(opts); i += 2 {
		name := strings.ToLower(opts[i])
		if name == "" {
			return req, malformed("empty option name")
		}
		if seen[name] {
			return req, malformed("option %q twice", name)
		}
		seen[name] = true
		req.Options = append(req.Options, Option{Name: name, Value: opts[i+1]})
	}
	return req, nil
}

// splitNUL splits b into NUL-ended strings; b must end with a NUL.
func splitNUL(b []byte) ([]string, error) {
	var fields []string
	for len(b) > 0 {
		i := indexNUL(b)
		if i < 0 {
			return nil, malformed("a string without its ending NUL")
		}
		fields = append(fields, string(b[:i]))
		b = b[i+1:]
	}
	return fields, nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return -1
}

// AppendRequest appends an RRQ or WRQ (for clients and tests).
func AppendRequest(b []byte, req Request) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(req.Op))
	b = appendString(b, req.Filename)
	b = appendString(b, req.Mode)
	for _, o := range req.Options {
		b = appendString(b, o.Name)
		b = appendString(b, o.Value)
	}
	return b
}

func appendString(b []byte, s string) []byte { return append(append(b, s...), 0) }

// AppendData appends a DATA packet's header; the block's bytes follow.
func AppendData(b []byte, block uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpDATA))
	return binary.BigEndian.AppendUint16(b, block)
}

// AppendAck appends an ACK packet.
func AppendAck(b []byte, block uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpACK))
	return binary.BigEndian.AppendUint16(b, block)
}

// AppendError appends an ERROR packet. The message is cut to keep the
// packet within 512 bytes, and made NUL-free.
func AppendError(b []byte, code ErrorCode, msg string) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpERROR))
	b = binary.BigEndian.AppendUint16(b, uint16(code))
	msg = strings.ReplaceAll(msg, "\x00", "")
	if len(msg) > 500 {
		msg = msg[:500]
	}
	return appendString(b, msg)
}

// AppendOACK appends an OACK with opts, in their order.
func AppendOACK(b []byte, opts []Option) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(OpOACK))
	for _, o := range opts {
		b = appendString(b, o.Name)
		b = appendString(b, o.Value)
	}
	return b
}

// Packet is any packet after a request: DATA, ACK, ERROR or OACK.
type Packet struct {
	Op      Opcode
	Block   uint16    // DATA, ACK
	Data    []byte    // DATA: the block's bytes (aliases the input)
	Code    ErrorCode // ERROR
	Message string    // ERROR
	Options []Option  // OACK
}

// ParsePacket parses a packet of a transfer under way.
func ParsePacket(b []byte) (Packet, error) {
	var p Packet
	if len(b) < 2 {
		return p, malformed("%d bytes, no opcode", len(b))
	}
	p.Op = Opcode(binary.BigEndian.Uint16(b))
	switch p.Op {
	case OpDATA, OpACK:
		if len(b) < 4 {
			return p, malformed("%v of %d bytes, no block number", p.Op, len(b))
		}
		p.Block = binary.BigEndian.Uint16(b[2:])
		if p.Op == OpACK && len(b) != 4 {
			return p, malformed("ACK of %d bytes", len(b))
		}
		if p.Op == OpDATA {
			if len(b)-4 > MaxBlockSize {
				return p, malformed("DATA of %d bytes, over %d", len(b)-4, MaxBlockSize)
			}
			p.Data = b[4:]
		}
	case OpERROR:
		if len(b) < 4 {
			return p, malformed("ERROR of %d bytes, no code", len(b))
		}
		p.Code = ErrorCode(binary.BigEndian.Uint16(b[2:]))
		msg := b[4:]
		if i := indexNUL(msg); i >= 0 {
			msg = msg[:i] // some peers send no NUL, or junk after it: be lenient here
		}
		p.Message = string(msg)
	case OpOACK:
		fields, err := splitNUL(b[2:])
		if err != nil {
			return p, err
		}
		if len(fields)%2 != 0 {
			return p, malformed("OACK option %q has no value", fields[len(fields)-1])
		}
		for i := 0; i < len(fields); i += 2 {
			p.Options = append(p.Options, Option{Name: strings.ToLower(fields[i]), Value: fields[i+1]})
		}
	default:
		return p, malformed("opcode %d", p.Op)
	}
	return p, nil
}

func (op Opcode) String() string {
	switch op {
	case OpRRQ:
		return "RRQ"
	case OpWRQ:
		return "WRQ"
	case OpDATA:
		return "DATA"
	case OpACK:
		return "ACK"
	case OpERROR:
		return "ERROR"
	case OpOACK:
		return "OACK"
	}
	return "opcode " + strconv.Itoa(int(op))
}
