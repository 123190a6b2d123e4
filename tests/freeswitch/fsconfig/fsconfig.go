// Package fsconfig writes the configuration of a FreeSWITCH started by the
// tests and the benchmark: its core settings and RTP range, the modules it
// loads, two SIP profiles on 127.0.0.1, mod_listen's listen.conf.xml and the
// dialplan the tests and the benchmark call.
package fsconfig

import (
	"bytes"
	"os"
	"path/filepath"
	"text/template"
)

// Params fill the configuration.
type Params struct {
	Profiles map[string]int // sofia profile name to SIP port
	ESLPort  int
	UASPort  int // SIP port of the answering profile
	UACPort  int // SIP port of the calling profile
	RTPStart int // RTP port range, away from other FreeSWITCHes on the machine
	RTPEnd   int
	WSURL    string // ws://127.0.0.1:port of the test's WebSocket server
	Module   string
	Modules  []string // other modules to load, by name, from the module directory
	Dir      string
	Media    string
	Password string
	// LogLevel is the switch's log level (default debug); the benchmark
	// lowers it so that logging does not weigh on what it measures.
	LogLevel string
	// ListenLogLevel is mod_listen's logLevel setting (default 7, debug).
	ListenLogLevel int
}

// Write writes freeswitch.xml and the listen.conf.xml it includes into confDir.
func Write(confDir string, p Params) error {
	for name, tmpl := range map[string]*template.Template{"freeswitch.xml": configTemplate, "listen.conf.xml": listenConf} {
		var conf bytes.Buffer
		if err := tmpl.Execute(&conf, p); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(confDir, name), conf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// listen.conf.xml, included by freeswitch.xml from the same directory.
var listenConf = template.Must(template.New("listen.conf.xml").Parse(`<configuration name="listen.conf" description="mod_listen">
  <settings>
    <param name="logLevel" value="{{or .ListenLogLevel 7}}"/>
    <param name="connectTimeoutMs" value="3000"/>
    <param name="hookTimeoutMs" value="1000"/>
  </settings>
  <profiles>
    <profile name="bot">
      <param name="url" value="{{.WSURL}}/bot"/>
      <param name="sampleRate" value="16000"/>
      <param name="passDtmf" value="true"/>
      <param name="metadata" value='{"case":"blocking","tag":"${listen_test_tag}"}'/>
    </profile>
  </profiles>
</configuration>
`))

// The configuration: the stock modules from the installation, mod_listen by
// its absolute path in the build directory, two SIP profiles on 127.0.0.1,
// and the test's dialplan.
//
// Loopback calls (context "default"):
//
//	bot      answers and runs the blocking listen with the "bot" profile,
//	         which ends on '#'; then records the outcome and parks
//	caller   records what it hears and plays a 1 kHz tone
//	rec      runs listen_start in stereo, with the server's audio played,
//	         and bridges to "agent"
//	agent    plays a 600 Hz tone
//	opusbot  answers and runs the blocking listen, sending Opus at 16 kHz
//
// SIP calls: the tests originate from the "uac" profile to the "uas" one;
// the calling leg runs "far" (context "uac": it records what it hears and
// plays far.wav, 1 kHz), the answering leg an extension of context "uas"
// named after what it does, whose listen streams to the WebSocket server at
// the path of the dialled number:
//
//	tone-<id>-<mix>-<rate>   listen_start (playback on), near.wav (600 Hz) played to the caller
//	park-<id>                listen_start (playback on, streamed audio at 16 kHz), park
//	sleep-<id>               listen_start (playback on, streamed audio at 16 kHz), sleep 10000
//	noplay-<id>              listen_start without playback, park
//	parked-<id>              park, no listen (the test starts one with uuid_listen)
//	block-<id>               the blocking listen, then park
//	dtmf-<id>                listen_start with passDtmf and finishOnKey #, park
//	bridge-<id>              listen_start stereo at 16 kHz (playback on), bridge (PCMU) to agent-<id> over SIP
//	agent-<id>               answers and plays near.wav
//	load-<id>                listen_start (mono, 8 kHz), park; called by "farload", which only plays
//	twilio-<id>              listen_start in Twilio mode (playback on), park
var configTemplate = template.Must(template.New("freeswitch.xml").Parse(`<?xml version="1.0"?>
<document type="freeswitch/xml">
  <section name="configuration" description="Various Configuration">
    <configuration name="switch.conf" description="Core Configuration">
      <settings>
        <param name="colorize-console" value="false"/>
        <param name="max-sessions" value="1000"/>
        <param name="sessions-per-second" value="1000"/>
        <param name="loglevel" value="{{or .LogLevel "debug"}}"/>
        <param name="dump-cores" value="no"/>
        <param name="rtp-start-port" value="{{.RTPStart}}"/>
        <param name="rtp-end-port" value="{{.RTPEnd}}"/>
      </settings>
    </configuration>
    <configuration name="modules.conf" description="Modules">
      <modules>
{{- range .Modules}}
        <load module="{{.}}"/>
{{- end}}
        <load module="{{.Module}}"/>
      </modules>
    </configuration>
    <configuration name="console.conf" description="Console Logger">
      <mappings><map name="all" value="console,debug,info,notice,warning,err,crit,alert"/></mappings>
      <settings><param name="colorize" value="false"/><param name="loglevel" value="{{or .LogLevel "debug"}}"/></settings>
    </configuration>
    <configuration name="event_socket.conf" description="Socket Client">
      <settings>
        <param name="nat-map" value="false"/>
        <param name="listen-ip" value="127.0.0.1"/>
        <param name="listen-port" value="{{.ESLPort}}"/>
        <param name="password" value="{{.Password}}"/>
      </settings>
    </configuration>
    <configuration name="acl.conf" description="Network Lists">
      <network-lists>
        <list name="loopback" default="deny"><node type="allow" cidr="127.0.0.0/8"/></list>
      </network-lists>
    </configuration>
    <configuration name="opus.conf" description="Opus">
      <settings><param name="use-vbr" value="0"/><param name="maxaveragebitrate" value="64000"/></settings>
    </configuration>
    <configuration name="sofia.conf" description="SIP">
      <global_settings><param name="log-level" value="0"/></global_settings>
      <profiles>
{{- range $name, $port := .Profiles}}
        <profile name="{{$name}}">
          <settings>
            <param name="context" value="{{$name}}"/>
            <param name="dialplan" value="XML"/>
            <param name="sip-ip" value="127.0.0.1"/>
            <param name="rtp-ip" value="127.0.0.1"/>
            <param name="sip-port" value="{{$port}}"/>
            <param name="ext-rtp-ip" value="127.0.0.1"/>
            <param name="ext-sip-ip" value="127.0.0.1"/>
            <param name="local-network-acl" value="loopback"/>
            <param name="apply-inbound-acl" value="loopback"/>
            <param name="auth-calls" value="false"/>
            <param name="inbound-codec-prefs" value="OPUS,L16@16000h,PCMU"/>
            <param name="outbound-codec-prefs" value="PCMU"/>
            <param name="inbound-codec-negotiation" value="generous"/>
            <param name="rtp-timer-name" value="soft"/>
            <param name="dtmf-type" value="rfc2833"/>
            <param name="rfc2833-pt" value="101"/>
            <param name="liberal-dtmf" value="true"/>
            <param name="rtp-timeout-sec" value="30"/>
            <param name="manage-presence" value="false"/>
            <param name="disable-register" value="true"/>
            <param name="tls" value="false"/>
          </settings>
        </profile>
{{- end}}
      </profiles>
    </configuration>
    <X-PRE-PROCESS cmd="include" data="listen.conf.xml"/>
  </section>
  <section name="dialplan" description="Regex/XML Dialplan">
    <context name="default">
      <extension name="bot">
        <condition field="destination_number" expression="^bot$">
          <action application="answer"/>
          <action application="set" data="listen_test_tag=tag-${uuid}"/>
          <action application="listen" data="profile=bot finishOnKey=#"/>
          <action application="set" data="listen_after=${listen_reason}/${listen_digits}"/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="opusbot">
        <condition field="destination_number" expression="^opusbot$">
          <action application="answer"/>
          <action application="listen" data='{"url":"{{.WSURL}}/opus","sampleRate":16000,"encoding":"opus"}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="caller">
        <condition field="destination_number" expression="^caller$">
          <action application="set" data="RECORD_READ_ONLY=true"/>
          <action application="record_session" data="{{.Dir}}/recordings/heard-${uuid}.wav"/>
          <action application="playback" data="tone_stream://%(1000,0,1000);loops=-1"/>
        </condition>
      </extension>
      <extension name="rec">
        <condition field="destination_number" expression="^rec$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/rec","mixType":"stereo","sampleRate":8000,"passDtmf":true,"bidirectionalAudio":{"enabled":true}}'/>
          <action application="bridge" data="{loopback_bowout=false}loopback/agent/default"/>
        </condition>
      </extension>
      <extension name="agent">
        <condition field="destination_number" expression="^agent$">
          <action application="answer"/>
          <action application="playback" data="tone_stream://%(1000,0,600);loops=-1"/>
        </condition>
      </extension>
    </context>
    <context name="uac">
      <extension name="far">
        <condition field="destination_number" expression="^far$">
          <action application="set" data="RECORD_READ_ONLY=true"/>
          <action application="record_session" data="{{.Dir}}/recordings/far-${uuid}.wav"/>
          <action application="endless_playback" data="{{.Media}}/far-${read_rate}.wav"/>
        </condition>
      </extension>
      <extension name="farload">
        <condition field="destination_number" expression="^farload$">
          <action application="endless_playback" data="{{.Media}}/far-${read_rate}.wav"/>
        </condition>
      </extension>
    </context>
    <context name="uas">
      <extension name="load">
        <condition field="destination_number" expression="^(load-.*)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$1"}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="tone">
        <condition field="destination_number" expression="^tone-[\w.]+-(mono|stereo|mixed)-(\d+)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$0","mixType":"$1","sampleRate":$2,"bidirectionalAudio":{"enabled":true}}'/>
          <action application="endless_playback" data="{{.Media}}/near-${read_rate}.wav"/>
        </condition>
      </extension>
      <extension name="twilio">
        <condition field="destination_number" expression="^(twilio-.*)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$1","protocol":"twilio","bidirectionalAudio":{"enabled":true}}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="park">
        <condition field="destination_number" expression="^(park-.*)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$1","bidirectionalAudio":{"enabled":true,"streaming":true,"sampleRate":16000}}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="sleep">
        <condition field="destination_number" expression="^(sleep-.*)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$1","bidirectionalAudio":{"enabled":true,"streaming":true,"sampleRate":16000}}'/>
          <action application="sleep" data="10000"/>
          <action application="hangup"/>
        </condition>
      </extension>
      <extension name="parked">
        <condition field="destination_number" expression="^parked-.*$">
          <action application="answer"/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="noplay">
        <condition field="destination_number" expression="^(noplay-.*)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$1"}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="block">
        <condition field="destination_number" expression="^(block-.*)$">
          <action application="answer"/>
          <action application="listen" data='{"url":"{{.WSURL}}/$1","bidirectionalAudio":{"enabled":true,"streaming":true,"sampleRate":16000}}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="dtmf">
        <condition field="destination_number" expression="^(dtmf-.*)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$1","passDtmf":true,"finishOnKey":"#"}'/>
          <action application="park"/>
        </condition>
      </extension>
      <extension name="bridge">
        <condition field="destination_number" expression="^bridge-(.*)$">
          <action application="answer"/>
          <action application="listen_start" data='{"url":"{{.WSURL}}/$0","mixType":"stereo","sampleRate":16000,"bidirectionalAudio":{"enabled":true}}'/>
          <action application="bridge" data="{absolute_codec_string=PCMU}sofia/uac/agent-$1@127.0.0.1:{{.UASPort}}"/>
        </condition>
      </extension>
      <extension name="agent">
        <condition field="destination_number" expression="^(agent-.*)$">
          <action application="answer"/>
          <action application="endless_playback" data="{{.Media}}/near-${read_rate}.wav"/>
        </condition>
      </extension>
    </context>
  </section>
</document>
`))
