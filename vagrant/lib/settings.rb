# Cluster settings shared by the Vagrantfile, read from SIPHA_* variables.
# tests/cluster/sipha_cluster.py (Python) derives the same names and
# addresses from the same variables: keep the two in step.
module SipHa
  class Settings
    attr_reader :nodes, :dist, :prefix, :net, :net6, :fence_port,
                :fence_passwd, :form_cluster

    def self.from_env(env = ENV)
      new(env)
    end

    def initialize(env)
      @nodes = Integer(env.fetch("SIPHA_NODES", "2"))
      raise ArgumentError, "SIPHA_NODES must be 1..9" unless (1..9).cover?(@nodes)
      @dist = env.fetch("SIPHA_DIST", "bookworm")
      @prefix = env.fetch("SIPHA_PREFIX", "sipha")
      raise ArgumentError, "SIPHA_PREFIX: 1-8 of [a-z0-9]" unless @prefix =~ /\A[a-z0-9]{1,8}\z/
      @net = env.fetch("SIPHA_NET", "198.51.100")
      @net6 = env.fetch("SIPHA_NET6", "2001:db8:5164:")
      @fence_port = env.fetch("SIPHA_FENCE_PORT", "7410")
      @fence_passwd = fence_secret(env.fetch("SIPHA_CACHE", "/var/cache/sip-ha"))
      @form_cluster = env.fetch("SIPHA_FORM_CLUSTER", "1") != "0"
    end

    # The host-side fence daemon's secret (host-side.sh up makes it, root only);
    # empty before that, and provision/cluster.sh refuses an empty one.
    def fence_secret(cache)
      path = File.join(cache, "run", @prefix, "fence.secret")
      File.readable?(path) ? File.read(path).strip : ""
    end

    def node_names
      (1..@nodes).map { |n| "node#{n}" }
    end

    def node_ip(i)
      "#{@net}.#{11 + i}"
    end

    def node_ip6(i)
      "#{@net6}:#{11 + i}"
    end

    def host_ip
      "#{@net}.1"
    end

    def bridge
      "#{@prefix}-br0"
    end

    def veth(name)
      "#{@prefix}-#{name.sub('node', 'n')}"
    end

    def mac(i)
      format("02:51:64:00:00:%02x", 11 + i)
    end

    def lxc_box
      here = File.dirname(File.expand_path(__FILE__))
      name = `"#{here}/../build-box.sh" --name "#{@dist}"`.strip
      raise "vagrant/build-box.sh --name failed" if name.empty?
      name
    end

    # Passed to the provisioning scripts.
    def provision_env
      {
        "SIPHA_NODES" => node_names.each_with_index.map { |n, i| "#{n}=#{node_ip(i)}" }.join(" "),
        "SIPHA_HOST_IP" => host_ip,
        "SIPHA_SERVICE_IP" => "#{@net}.100",
        "SIPHA_PHONE_IP" => "#{@net}.200",
        "SIPHA_TRUNK_IP" => "#{@net}.201",
        "SIPHA_FENCE_PORT" => @fence_port,
        "SIPHA_FENCE_PASSWD" => @fence_passwd,
        "SIPHA_CLUSTER_NAME" => @prefix,
      }
    end
  end
end
