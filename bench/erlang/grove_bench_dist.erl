%% The distribution scenarios of grove-bench on Erlang/OTP: this VM becomes a distributed node
%% and starts a second one on loopback with OTP's peer module, as an Erlang user would test two
%% nodes (default distribution over TCP, epmd, default VM flags).
%%
%% Called by grove_bench:main/1; each prints the same metrics, in the same units, as the Grove
%% side in bench/src/dist.rs. TLS distribution (inet_tls_dist) needs the ssl application, which
%% erlang-base does not carry: the TLS variants report "unsupported" here.
-module(grove_bench_dist).
-export([run/2, sink/1, tcp_echo/0]).

%% dist-send: N small messages from one process to a process on the other node, then a round
%% trip that returns how many arrived. The sender is paced by Erlang itself: it is suspended
%% while the distribution buffer is busy. [messages/s]
run('dist-send', [_, 1]) -> unsupported_tls();
run('dist-send', [N, 0]) ->
    Node = start_peer(60),
    Sink = spawn(Node, ?MODULE, sink, [0]),
    Warm = 10000,
    send_counts(Sink, Warm),
    Warm = report(Sink),
    {S, Arrived} = grove_bench:seconds(fun() ->
        send_counts(Sink, N),
        report(Sink)
    end),
    Arrived = Warm + N,
    [N / S];

%% dist-call: N sequential gen_server calls to a server on the other node, and N round trips
%% of 8 bytes over a plain TCP connection between the same two VMs (gen_tcp, nodelay), the
%% floor a call could reach; in alternating blocks of 500, so that both meet the same machine.
%% [us per call, us per TCP round trip, call / TCP]
run('dist-call', [_, 1]) -> unsupported_tls();
run('dist-call', [N, 0]) ->
    Node = start_peer(60),
    {ok, Server} = erpc:call(Node, gen_server, start, [grove_bench_counter, [], []]),
    Port = erpc:call(Node, ?MODULE, tcp_echo, []),
    {ok, Socket} = gen_tcp:connect({127, 0, 0, 1}, Port, [binary, {active, false}, {nodelay, true}]),
    grove_bench:call_n(Server, 1000),
    tcp_round_trips(Socket, 1000),
    {CallS, TcpS} = call_blocks(Server, Socket, N, 0.0, 0.0),
    gen_tcp:close(Socket),
    Call = CallS * 1.0e6 / N,
    Tcp = TcpS * 1.0e6 / N,
    [Call, Tcp, Call / Tcp];

%% dist-detect: the other node's OS process gets Signal (9: killed, 19: stopped, a hung node);
%% time from starting the `kill` program (as the Grove side does, no shell) until this node's
%% monitor_node says nodedown. TickTime is net_ticktime in seconds (60 is Erlang's default).
%% [ms]
run('dist-detect', [Signal, TickTime, _Tls]) ->
    Node = start_peer(TickTime),
    OsPid = erpc:call(Node, os, getpid, []),
    true = monitor_node(Node, true),
    Name = case Signal of 9 -> "KILL"; 19 -> "STOP" end,
    {S, _} = grove_bench:seconds(fun() ->
        kill(Name, OsPid),
        receive {nodedown, Node} -> ok
        after 300000 -> error(nodedown_never_came)
        end
    end),
    kill("KILL", OsPid),
    [S * 1.0e3].

unsupported_tls() ->
    io:format("unsupported: TLS distribution needs the ssl application (not in erlang-base)~n"),
    halt(3).

%% Runs `kill -Name OsPid` and returns once it has exited.
kill(Name, OsPid) ->
    Port = open_port({spawn_executable, os:find_executable("kill")},
                     [{args, ["-" ++ Name, OsPid]}, exit_status]),
    receive {Port, {exit_status, 0}} -> ok end.

%% Makes this VM the node benchN@127.0.0.1 (epmd started if it is not running) and starts the
%% peer node peerN@127.0.0.1 with this code on its path; returns the peer's node name.
start_peer(TickTime) ->
    os:cmd("epmd -daemon"),
    Suffix = os:getpid(),
    Name = list_to_atom("bench" ++ Suffix ++ "@127.0.0.1"),
    start_distribution(Name, TickTime, 50),
    Ebin = filename:dirname(code:which(?MODULE)),
    {ok, _Peer, Node} = peer:start(#{
        name => "peer" ++ Suffix,
        host => "127.0.0.1",
        longnames => true,
        args => ["-pa", Ebin, "-kernel", "net_ticktime", integer_to_list(TickTime)]
    }),
    Node.

%% net_kernel:start, retried while a just-started epmd is not listening yet.
start_distribution(Name, TickTime, Tries) ->
    case net_kernel:start(Name, #{name_domain => longnames, net_ticktime => TickTime}) of
        {ok, _} -> ok;
        {error, _} when Tries > 1 -> timer:sleep(100), start_distribution(Name, TickTime, Tries - 1);
        {error, Reason} -> error({no_distribution, Reason})
    end.

%% The receiving end of dist-send: counts messages until asked how many arrived.
sink(Count) ->
    receive
        {count, N} -> sink(Count + N);
        {report, From} -> From ! {arrived, Count}, sink(Count)
    end.

send_counts(_, 0) -> ok;
send_counts(Sink, N) -> Sink ! {count, 1}, send_counts(Sink, N - 1).

report(Sink) ->
    Sink ! {report, self()},
    receive {arrived, Count} -> Count end.

call_blocks(_, _, 0, CallS, TcpS) -> {CallS, TcpS};
call_blocks(Server, Socket, Left, CallS, TcpS) ->
    Block = min(500, Left),
    {C, _} = grove_bench:seconds(fun() -> grove_bench:call_n(Server, Block) end),
    {T, _} = grove_bench:seconds(fun() -> tcp_round_trips(Socket, Block) end),
    call_blocks(Server, Socket, Left - Block, CallS + C, TcpS + T).

%% Starts a TCP echo of 8-byte packets on a free port of the peer; returns the port.
tcp_echo() ->
    Parent = self(),
    spawn(fun() ->
        {ok, Listen} = gen_tcp:listen(0, [binary, {active, false}, {nodelay, true}, {ip, {127, 0, 0, 1}}]),
        {ok, Port} = inet:port(Listen),
        Parent ! {echo_port, Port},
        {ok, Socket} = gen_tcp:accept(Listen),
        echo_loop(Socket)
    end),
    receive {echo_port, Port} -> Port end.

echo_loop(Socket) ->
    case gen_tcp:recv(Socket, 8) of
        {ok, Bytes} -> ok = gen_tcp:send(Socket, Bytes), echo_loop(Socket);
        {error, _} -> ok
    end.

tcp_round_trips(_, 0) -> ok;
tcp_round_trips(Socket, N) ->
    ok = gen_tcp:send(Socket, <<N:64>>),
    {ok, <<_:64>>} = gen_tcp:recv(Socket, 8),
    tcp_round_trips(Socket, N - 1).
