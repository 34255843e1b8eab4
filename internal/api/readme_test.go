package api

import (
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// curlCommands returns the curl commands of the indented code blocks of a Markdown file, each
// split into words as a shell would (quotes removed, continuation lines joined).
func curlCommands(t *testing.T, path string) [][]string {
	t.Helper()
	text, err := os.ReadFile(path)
	require.NoError(t, err)
	var out [][]string
	lines := strings.Split(string(text), "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if !strings.HasPrefix(lines[i], "    ") || !strings.HasPrefix(line, "curl ") || strings.Contains(line, "$") {
			continue
		}
		for strings.HasSuffix(line, `\`) && i+1 < len(lines) {
			i++
			line = strings.TrimSuffix(line, `\`) + " " + strings.TrimSpace(lines[i])
		}
		out = append(out, shellWords(t, line))
	}
	return out
}

// shellWords splits a command line into words: spaces separate, quotes group, and a word ends
// at a # comment.
func shellWords(t *testing.T, line string) []string {
	t.Helper()
	var words []string
	var word strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			require.GreaterOrEqual(t, end, 0, "unclosed quote in %s", line)
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == ' ':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case c == '#' && !inWord:
			return words
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words
}

// The curl examples of the README and docs send what the native API takes: the right method,
// an existing route, a JSON body with its Content-Type and only known fields.
func TestDocumentedCurlExamplesAreAccepted(t *testing.T) {
	n := newNativeServer(t)
	var commands [][]string
	for _, path := range []string{"../../README.md", "../../docs/pull.md", "../../docs/api.md"} {
		commands = append(commands, curlCommands(t, path)...)
	}
	require.GreaterOrEqual(t, len(commands), 8, "the examples were found")
	for _, words := range commands {
		method, target, body := "", "", ""
		header := http.Header{}
		for i := 1; i < len(words); i++ {
			switch w := words[i]; w {
			case "-X":
				i++
				method = words[i]
			case "-H":
				i++
				k, v, _ := strings.Cut(words[i], ":")
				header.Set(k, strings.TrimSpace(v))
			case "-d", "--data":
				i++
				body = words[i]
			default:
				if !strings.HasPrefix(w, "-") {
					target = w
				}
			}
		}
		if method == "" {
			method = http.MethodGet
			if body != "" {
				method = http.MethodPost
			}
		}
		if body != "" && header.Get("Content-Type") == "" {
			header.Set("Content-Type", "application/x-www-form-urlencoded") // what curl -d sends
		}
		u, err := url.Parse("http://" + strings.TrimPrefix(target, "http://"))
		require.NoError(t, err, target)
		req, err := http.NewRequest(method, n.url+u.RequestURI(), strings.NewReader(body))
		require.NoError(t, err)
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cmd := strings.Join(words, " ")
		require.NotContains(t, []int{http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusUnsupportedMediaType},
			resp.StatusCode, "%s: %s", cmd, answer)
		require.NotContains(t, string(answer), "no such endpoint", cmd)
	}
}
