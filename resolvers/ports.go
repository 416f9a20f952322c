package resolvers

import (
	"github.com/appmanage/appmanage/apps"
	"github.com/appmanage/appmanage/graph/model"
)

// installRequest maps installApp's (and installPlan's) input.
func installRequest(input model.InstallAppInput) apps.InstallRequest {
	req := apps.InstallRequest{
		AppName: input.AppName, AppID: input.AppID, Domains: input.Domains,
		DefaultDomain: deref(input.DefaultDomain), Version: deref(input.Version),
		EndpointID: deref(input.EndpointID), IdempotencyKey: deref(input.IdempotencyKey),
		WebPort: deref(input.WebPort), AllowUnreachableImages: deref(input.AllowUnreachableImages),
	}
	for _, s := range input.Settings {
		req.Settings = append(req.Settings, apps.EnvSetting{Name: s.Name, Value: s.Value})
	}
	return req
}

func mapPlannedPorts(ps []apps.PlannedPort) []model.PlannedPort {
	out := make([]model.PlannedPort, len(ps))
	for i, p := range ps {
		out[i] = model.PlannedPort{HostPort: p.HostPort, HostIP: ptr(p.HostIP), ContainerPort: p.ContainerPort,
			Protocol: p.Protocol, Service: p.Service, Setting: ptr(p.Setting), Source: model.PortSource(p.Source),
			Default: ptr(p.Default), DefaultHolder: ptr(p.DefaultHolder)}
	}
	return out
}

func mapInstallPlan(p *apps.InstallPlan) *model.InstallPlan {
	in := p.Input
	m := &model.InstallPlan{AppName: in.AppName, AppID: in.AppID, Version: in.Version, EndpointID: in.EndpointID,
		URL: in.URL, Domains: nonNil(in.Domains), Settings: make([]model.EnvVar, len(in.Settings)),
		Ports: mapPlannedPorts(in.Ports), WebPort: ptr(p.Web.Port), WebScheme: ptr(p.Web.Scheme), WebPortSource: ptr(p.Web.Source)}
	for i, s := range in.Settings {
		m.Settings[i] = model.EnvVar{Name: s.Name, Value: s.Value}
	}
	return m
}

func mapImages(ims []apps.ImageStatus) []model.AppImage {
	out := make([]model.AppImage, len(ims))
	for i, im := range ims {
		out[i] = model.AppImage{Ref: im.Ref, Services: im.Services, Present: im.Present, Reachable: im.Reachable,
			Via: ptr(im.Via), Tried: im.Tried}
		if out[i].Services == nil {
			out[i].Services = []string{}
		}
		if out[i].Tried == nil {
			out[i].Tried = []string{}
		}
	}
	return out
}
