package image

import (
	"encoding/json"
	"time"

	"github.com/opencontainers/go-digest"
)

// Summary is one row of `minirun images`.
type Summary struct {
	Name       string        `json:"name"`
	Repository string        `json:"repository"`
	Tag        string        `json:"tag"`
	ID         string        `json:"id"`
	Digest     digest.Digest `json:"digest"`
	Created    time.Time     `json:"created"`
	Size       int64         `json:"size"`
	Platform   string        `json:"platform"`
}

// ShortID is the image ID as docker prints it: 12 hex digits.
func (s Summary) ShortID() string {
	d := digest.Digest(s.ID)
	if d.Validate() != nil {
		return s.ID
	}
	return d.Encoded()[:12]
}

// Summarize turns images into rows, names as users write them.
func Summarize(ims []*Image) []Summary {
	var out []Summary
	for _, im := range ims {
		s := Summary{Name: im.Name, ID: im.ID.String(), Digest: im.Digest, Size: im.Size(), Platform: platformOf(im)}
		if im.Config.Created != nil {
			s.Created = *im.Config.Created
		}
		if r, err := ParseReference(im.Name); err == nil {
			s.Repository = familiarRepo(r)
			s.Tag = r.Tag()
			if s.Tag == "" {
				s.Tag = "<none>"
			}
		}
		out = append(out, s)
	}
	return out
}

// Inspection is `minirun image inspect`'s output for one image.
type Inspection struct {
	Name     string          `json:"name"`
	ID       digest.Digest   `json:"id"`
	Digest   digest.Digest   `json:"digest"`
	Source   digest.Digest   `json:"sourceDigest,omitempty"`
	Stored   time.Time       `json:"stored"`
	Size     int64           `json:"size"`
	Manifest json.RawMessage `json:"manifest"`
	Config   json.RawMessage `json:"config"`
}

// Inspect shows im's manifest and config as stored.
func Inspect(im *Image) Inspection {
	in := Inspection{Name: im.Name, ID: im.ID, Digest: im.Digest, Stored: im.Stored, Size: im.Size(),
		Manifest: im.RawManifest, Config: im.RawConfig}
	if im.Source != im.Digest {
		in.Source = im.Source
	}
	return in
}

// HumanSize prints n bytes as docker does: 1000-based, three digits.
func HumanSize(n int64) string { return humanSize(n) }
