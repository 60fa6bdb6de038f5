"""Start the lpr graph on a ROS 2 install:

    ros2 launch lpr bringup.launch.py [params_file:=FILE] [namespace:=cam0]
        [source:=rtsp://...] [server_url:=https://...] [data_dir:=DIR] [bridge:=true] [ingest:=false]
        [access:=false]

The nodes, their names and the overrides come from lpr.graph, which the pip
runner (`lpr run`) uses too, with the same params YAML.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from lpr import graph

ARGUMENTS = {
    'params_file': (str(graph.default_params_file()), 'parameters YAML for all nodes'),
    'namespace': (graph.DEFAULT_NAMESPACE, "the graph's namespace (the camera id when there is one camera)"),
    'source': ('', 'camera source override (file, folder, rtsp://..., /dev/videoN, picamera2, synthetic)'),
    'server_url': ('', 'central Socket.IO server override'),
    'data_dir': ('', 'journal and images directory override'),
    'bridge': ('true', 'start the bridge node'),
    'ingest': ('false', 'start the ingest node (ANPR camera pushes and FTP uploads)'),
    'access': ('false', 'start the access node (decisions from the access lists, barrier driver)'),
    'foxglove': ('false', 'start the Foxglove WebSocket bridge (ws://127.0.0.1:<foxglove_port>)'),
    'foxglove_port': ('8765', 'port of the Foxglove WebSocket bridge'),
    'log_level': ('info', 'ROS log level'),
}


def _nodes(context):
    arg = {name: LaunchConfiguration(name).perform(context) for name in ARGUMENTS}
    cameras = graph.camera_names(arg['params_file'])
    extra = graph.overrides(arg['source'], arg['server_url'], arg['data_dir'], cameras)
    nodes = []
    for spec in graph.camera_specs(cameras) + [s for s in graph.NODES if not s.is_camera]:
        if spec.name == 'bridge' and not _true(arg['bridge']):
            continue
        if spec.optional and not _true(arg.get(spec.name, 'false')):
            continue
        params = [arg['params_file']] + ([extra[spec.name]] if extra[spec.name] else [])
        nodes.append(Node(package=spec.package, executable=spec.executable, name=spec.name,
                          namespace=arg['namespace'], parameters=params, remappings=list(spec.remaps),
                          output='screen',
                          respawn=True, respawn_delay=2.0,   # as lpr run: a node that dies starts again
                          ros_arguments=['--log-level', arg['log_level']]))
    if _true(arg['foxglove']):
        fox = graph.FOXGLOVE
        nodes.append(Node(package=fox.package, executable=fox.executable, name=fox.name,
                          arguments=['--namespace', arg['namespace'], '--port', arg['foxglove_port']],
                          output='screen'))
    return nodes


def _true(value: str) -> bool:
    return value.lower() in ('true', '1', 'yes')


def generate_launch_description():
    env = [SetEnvironmentVariable(k, v) for k, v in graph.dds_environment().items()]
    args = [DeclareLaunchArgument(name, default_value=default, description=text)
            for name, (default, text) in ARGUMENTS.items()]
    return LaunchDescription(env + args + [OpaqueFunction(function=_nodes)])
