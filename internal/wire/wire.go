package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Version is the protocol version, the first byte of every message.
const Version = 1

// Op is what a request asks.
type Op uint8

// The operations.
const (
	OpList Op = 1 // list the library
	OpGet  Op = 2 // download Name from Arg (an offset, to resume)
	OpPut  Op = 3 // upload Name, Arg bytes long
)

func (o Op) String() string {
	switch o {
	case OpList:
		return "ls"
	case OpGet:
		return "get"
	case OpPut:
		return "put"
	}
	return fmt.Sprintf("op %d", uint8(o))
}

// Status is a response's outcome: OK, Continue, or an error code.
type Status uint8

// Statuses. Errors start at 16, so a future success code has room.
const (
	StatusOK       Status = 0  // done; a body may follow
	StatusContinue Status = 1  // PUT: send the body now
	ErrBadRequest  Status = 16 // a malformed request: the connection closes
	ErrBadVersion  Status = 17 // a version this server does not speak
	ErrBadName     Status = 18 // a name refused: escapes the root, absolute, control characters, too long
	ErrNotFound    Status = 19 // no such file
	ErrTooLarge    Status = 20 // PUT over the server's --max-upload
	ErrBadRange    Status = 21 // GET from an offset past the end
	ErrChecksum    Status = 22 // PUT body does not match its SHA-256: nothing stored
	ErrBusy        Status = 23 // the worker's connection limit: try again
	ErrTimeout     Status = 24 // the client was idle too long
	ErrInternal    Status = 25 // the server failed (disk full, I/O error): nothing stored
	ErrNotAFile    Status = 26 // the name is a directory
)

var statusNames = map[Status]string{
	StatusOK: "ok", StatusContinue: "continue", ErrBadRequest: "bad request", ErrBadVersion: "unsupported version",
	ErrBadName: "bad name", ErrNotFound: "not found", ErrTooLarge: "too large", ErrBadRange: "bad range",
	ErrChecksum: "checksum mismatch", ErrBusy: "busy", ErrTimeout: "timeout", ErrInternal: "server error",
	ErrNotAFile: "not a file",
}

func (s Status) String() string {
	if n, ok := statusNames[s]; ok {
		return n
	}
	return fmt.Sprintf("status %d", uint8(s))
}

// Limits on what a peer may send.
const (
	MaxName     = 1024     // bytes in a name
	MaxMessage  = 1024     // bytes in an error message
	MaxListBody = 64 << 20 // bytes in a listing
)

// Sizes of the fixed headers.
const (
	RequestHeaderSize  = 16
	ResponseHeaderSize = 56
	SumSize            = 32 // SHA-256
)

// Request is one request. PUT's body (Arg bytes) and its SHA-256 follow it,
// once the server has answered StatusContinue.
type Request struct {
	Op   Op
	Name string // empty for LIST
	Arg  uint64 // GET: the offset to start from; PUT: the body's length
}

// Response is one response's header. An error's Message, a GET's body
// (Size-Offset bytes) or a LIST's body (Size bytes) follows it.
type Response struct {
	Status  Status
	Message string        // errors only
	Size    uint64        // GET: the whole file; LIST: the body; PUT: bytes stored
	Offset  uint64        // GET: where the body starts in the file
	Sum     [SumSize]byte // GET: the whole file's; LIST: the body's; PUT: the stored file's
}

// Error is an error response, as the client sees it.
type Error struct {
	Status  Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Status.String()
	}
	return e.Status.String() + ": " + e.Message
}

// Err returns the response as an *Error, or nil if it is not one.
func (r Response) Err() error {
	if r.Status < ErrBadRequest {
		return nil
	}
	return &Error{Status: r.Status, Message: r.Message}
}

// ErrProtocol wraps every parse failure: the peer does not speak v1.
var ErrProtocol = errors.New("protocol error")

func protoErr(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrProtocol, fmt.Sprintf(format, args...))
}

// AppendRequest encodes req.
func AppendRequest(b []byte, req Request) []byte {
	b = append(b, Version, byte(req.Op))
	b = binary.BigEndian.AppendUint16(b, uint16(len(req.Name)))
	b = binary.BigEndian.AppendUint32(b, 0) // reserved
	b = binary.BigEndian.AppendUint64(b, req.Arg)
	return append(b, req.Name...)
}

// ReadRequest reads and checks one request header and its name. io.EOF
// means the client closed before a new request, a clean end.
func ReadRequest(r io.Reader) (Request, error) {
	var h [RequestHeaderSize]byte
	if _, err := io.ReadFull(r, h[:1]); err != nil {
		return Request{}, err // io.EOF: no request at all
	}
	if h[0] != Version {
		return Request{}, &Error{Status: ErrBadVersion, Message: fmt.Sprintf("version %d; this server speaks %d", h[0], Version)}
	}
	if _, err := io.ReadFull(r, h[1:]); err != nil {
		return Request{}, truncated(err)
	}
	req := Request{Op: Op(h[1]), Arg: binary.BigEndian.Uint64(h[8:])}
	n := int(binary.BigEndian.Uint16(h[2:]))
	switch {
	case req.Op != OpList && req.Op != OpGet && req.Op != OpPut:
		return req, protoErr("unknown op %d", h[1])
	case binary.BigEndian.Uint32(h[4:]) != 0:
		return req, protoErr("reserved bytes not zero")
	case n > MaxName:
		return req, protoErr("name of %d bytes, over %d", n, MaxName)
	case req.Op == OpList && (n != 0 || req.Arg != 0):
		return req, protoErr("ls takes no name and no argument")
	case req.Op != OpList && n == 0:
		return req, protoErr("%s without a name", req.Op)
	}
	name := make([]byte, n)
	if _, err := io.ReadFull(r, name); err != nil {
		return req, truncated(err)
	}
	req.Name = string(name)
	return req, nil
}

// AppendResponse encodes resp.
func AppendResponse(b []byte, resp Response) []byte {
	msg := resp.Message
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage]
		for !utf8.ValidString(msg) { // do not cut a rune in two
			msg = msg[:len(msg)-1]
		}
	}
	b = append(b, Version, byte(resp.Status))
	b = binary.BigEndian.AppendUint16(b, uint16(len(msg)))
	b = binary.BigEndian.AppendUint32(b, 0) // reserved
	b = binary.BigEndian.AppendUint64(b, resp.Size)
	b = binary.BigEndian.AppendUint64(b, resp.Offset)
	b = append(b, resp.Sum[:]...)
	return append(b, msg...)
}

// ReadResponse reads and checks one response header and its message.
func ReadResponse(r io.Reader) (Response, error) {
	var h [ResponseHeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return Response{}, truncated(err)
	}
	if h[0] != Version {
		return Response{}, protoErr("version %d; this client speaks %d", h[0], Version)
	}
	resp := Response{
		Status: Status(h[1]),
		Size:   binary.BigEndian.Uint64(h[8:]),
		Offset: binary.BigEndian.Uint64(h[16:]),
	}
	copy(resp.Sum[:], h[24:])
	n := int(binary.BigEndian.Uint16(h[2:]))
	switch {
	case binary.BigEndian.Uint32(h[4:]) != 0:
		return resp, protoErr("reserved bytes not zero")
	case resp.Status > StatusContinue && resp.Status < ErrBadRequest, resp.Status > ErrNotAFile:
		return resp, protoErr("unknown status %d", h[1])
	case n > MaxMessage:
		return resp, protoErr("message of %d bytes, over %d", n, MaxMessage)
	case n > 0 && resp.Status < ErrBadRequest:
		return resp, protoErr("a message on a non-error response")
	case resp.Offset > resp.Size:
		return resp, protoErr("offset %d past size %d", resp.Offset, resp.Size)
	}
	if n > 0 {
		msg := make([]byte, n)
		if _, err := io.ReadFull(r, msg); err != nil {
			return resp, truncated(err)
		}
		if !utf8.Valid(msg) {
			return resp, protoErr("message is not UTF-8")
		}
		resp.Message = string(msg)
	}
	return resp, nil
}

func truncated(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return protoErr("connection closed mid-message")
	}
	return err
}
