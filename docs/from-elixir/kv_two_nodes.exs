# The Elixir twin of crates/grove/examples/kv_two_nodes.rs. Run it (epmd starts with it):
#   elixir --name a@127.0.0.1 --cookie kv_example kv_two_nodes.exs
defmodule KV do
  use GenServer
  def init(n), do: {:ok, n}
  def handle_call(:bump, _from, n), do: {:reply, n + 1, n + 1}
end

defmodule A do
  def start_b do
    cmd = "elixir --name b@127.0.0.1 --cookie kv_example #{__ENV__.file} b"
    Port.open({:spawn, cmd}, [])
  end

  # Connects to b and waits until its :kv is registered.
  def call_b(msg) do
    if Node.connect(:"b@127.0.0.1") && :rpc.call(:"b@127.0.0.1", Process, :whereis, [:kv]) do
      GenServer.call({:kv, :"b@127.0.0.1"}, msg)
    else
      Process.sleep(50)
      call_b(msg)
    end
  end
end

case System.argv() do
  ["b"] ->
    GenServer.start_link(KV, 0, name: :kv)
    Process.sleep(:infinity)

  _ ->
    b = A.start_b()
    IO.puts("bumped to #{A.call_b(:bump)}")
    Process.monitor({:kv, :"b@127.0.0.1"})
    {:os_pid, os_pid} = Port.info(b, :os_pid)
    System.cmd("kill", ["-9", "#{os_pid}"])

    receive do
      {:DOWN, _, _, _, reason} -> IO.puts("b is gone: #{inspect(reason)}")
    end

    b = A.start_b()
    IO.puts("bumped to #{A.call_b(:bump)} after b restarted")
    {:os_pid, os_pid} = Port.info(b, :os_pid)
    System.cmd("kill", ["-9", "#{os_pid}"])
end
