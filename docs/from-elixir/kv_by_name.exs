# The Elixir twin of crates/grove/examples/kv_by_name.rs. Run it: elixir kv_by_name.exs
defmodule KV do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, %{}, name: :kv)
  def init(state), do: {:ok, state}
  def handle_call({:get, k}, _from, s), do: {:reply, Map.get(s, k), s}
  def handle_cast({:put, k, v}, s), do: {:noreply, Map.put(s, k, v)}
end

defmodule Ticker do
  use GenServer
  def start_link(_), do: GenServer.start_link(__MODULE__, nil)

  def init(_) do
    Process.send_after(self(), :tick, 100)
    {:ok, nil}
  end

  def handle_info(:tick, s) do
    n = :ets.update_counter(:ticks, "n", 1, {"n", 0})
    if rem(n, 5) == 0, do: raise("tick #{n}")
    Process.send_after(self(), :tick, 100)
    {:noreply, s}
  end
end

:ets.new(:ticks, [:named_table, :public])
{:ok, _tree} = Supervisor.start_link([KV, Ticker], strategy: :one_for_one)
GenServer.cast(:kv, {:put, "a", 1})
IO.puts("a = #{inspect(GenServer.call(:kv, {:get, "a"}))}")
Process.sleep(1_200)
IO.puts("ticks = #{inspect(:ets.lookup(:ticks, "n"))}")
