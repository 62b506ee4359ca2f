package kafkaconn

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
)

// failing is a mechanism whose client side fails, as a SCRAM client does
// on a server answer it cannot verify.
type failing struct{ at string }

func (failing) Name() string { return "TEST" }

func (f failing) Authenticate(context.Context, string) (sasl.Session, []byte, error) {
	if f.at == "authenticate" {
		return nil, nil, errors.New("user and pass must be non-empty")
	}
	return f, []byte("first"), nil
}

func (failing) Challenge([]byte) (bool, []byte, error) {
	return false, nil, errors.New("server did not reply with nonce beginning with client nonce")
}

// An error of the SASL exchange on the client's side is an authentication
// error by its type, wherever it is wrapped; an error is not one for
// saying "sasl" or "authentication".
func TestAuthErrByType(t *testing.T) {
	_, _, err := marked{failing{at: "authenticate"}}.Authenticate(context.Background(), "h:9092")
	if !isAuthErr(fmt.Errorf("ping: %w", err)) {
		t.Errorf("a failed Authenticate is not an auth error: %v", err)
	}
	s, _, err := marked{failing{}}.Authenticate(context.Background(), "h:9092")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Challenge(nil); !isAuthErr(fmt.Errorf("ping: %w", err)) || err.Error() != "server did not reply with nonce beginning with client nonce" {
		t.Errorf("a failed Challenge: %v, want an auth error with the mechanism's message", err)
	}
	for _, err := range []error{errors.New("unexpected EOF while reading the sasl handshake"), errors.New("dial tcp: authentication proxy refused")} {
		if isAuthErr(err) {
			t.Errorf("%v is taken for a SASL authentication failure by its text", err)
		}
	}
}
